"""The baseline of ``dui bench``: the least a Flask app on the same stack can do per request.

One table (``bench_blob``: text id primary key, JSON text), two routes:

- ``GET /blob/<id>`` returns the stored JSON blob as it is (the read ceiling);
- ``POST /blob`` inserts the posted body under a new id and answers 201 with that id (the write ceiling).

It uses the server's own engine factory (:func:`fhirserver.storage.sql.db.make_engine`: same driver, pool,
SQLite pragmas and ``BEGIN IMMEDIATE`` for writers) and is run by ``dui bench`` under gunicorn with the same
settings as ``dui serve`` (gthread workers, threads, keep-alive), so the ratio server/baseline measures what the
FHIR layer costs, not Flask, gunicorn or the database driver. Run by hand::

    DUI_BENCH_BASELINE_URL=sqlite:////tmp/b.sqlite3 gunicorn -w 2 -k gthread --threads 4 \\
        'fhirserver.bench.baseline:create_app()'
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable

from flask import Flask, Response, request
from sqlalchemy import Engine, text

from fhirserver.storage.sql.db import make_engine

TABLE = "bench_blob"
URL_VARIABLE = "DUI_BENCH_BASELINE_URL"


def reset_table(engine: Engine) -> None:
    """Drop and create the baseline table (empty)."""
    with engine.connect().execution_options(dui_write=True) as conn, conn.begin():
        conn.execute(text(f"DROP TABLE IF EXISTS {TABLE}"))
        conn.execute(text(f"CREATE TABLE {TABLE} (id VARCHAR(64) PRIMARY KEY, content TEXT NOT NULL)"))


def seed(engine: Engine, blobs: Iterable[tuple[str, str]], batch: int = 1000) -> int:
    """Insert ``(id, json text)`` pairs; returns how many were inserted."""
    count = 0
    rows: list[dict[str, str]] = []
    stmt = text(f"INSERT INTO {TABLE} (id, content) VALUES (:id, :content)")
    with engine.connect().execution_options(dui_write=True) as conn:
        for blob_id, content in blobs:
            rows.append({"id": blob_id, "content": content})
            if len(rows) >= batch:
                with conn.begin():
                    conn.execute(stmt, rows)
                count += len(rows)
                rows = []
        if rows:
            with conn.begin():
                conn.execute(stmt, rows)
            count += len(rows)
    return count


def create_app(database_url: str | None = None, pool_size: int = 10) -> Flask:
    """The baseline WSGI app on ``database_url`` (default: the ``DUI_BENCH_BASELINE_URL`` environment variable)."""
    url = database_url or os.environ[URL_VARIABLE]
    engine = make_engine(url, pool_size=pool_size)
    read_stmt = text(f"SELECT content FROM {TABLE} WHERE id = :id")
    write_stmt = text(f"INSERT INTO {TABLE} (id, content) VALUES (:id, :content)")
    app = Flask(__name__)

    @app.get("/health")
    def health() -> Response:
        return Response('{"status":"ok"}', content_type="application/json")

    @app.get("/blob/<blob_id>")
    def read(blob_id: str) -> Response:
        with engine.connect() as conn:
            row = conn.execute(read_stmt, {"id": blob_id}).first()
        if row is None:
            return Response('{"error":"not found"}', status=404, content_type="application/json")
        return Response(row[0], content_type="application/fhir+json; charset=utf-8")

    @app.post("/blob")
    def write() -> Response:
        body = request.get_data(cache=False).decode("utf-8")
        blob_id = uuid.uuid4().hex
        with engine.connect().execution_options(dui_write=True) as conn, conn.begin():
            conn.execute(write_stmt, {"id": blob_id, "content": body})
        return Response(json.dumps({"id": blob_id}), status=201, content_type="application/json",
                        headers={"Location": f"/blob/{blob_id}"})

    return app
