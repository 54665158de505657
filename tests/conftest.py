"""Shared fixtures: the real app on the database under test.

The database comes from ``DUI_TEST_DATABASE_URL`` (a PostgreSQL server URL; CI sets it for the second run);
without it, an SQLite file in a temporary directory. On PostgreSQL every test session works in a database of its
own (created and dropped here), so parallel runs never see each other's rows.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from fhirserver.app import build_context, create_app
from fhirserver.settings import load_settings
from fhirserver.storage.sql.migrate import upgrade
from fhirserver.storage.sql.schema import metadata

FHIR_JSON = "application/fhir+json"


def _postgres_database(server_url: str) -> Iterator[str]:
    url = make_url(server_url)
    name = f"dui_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(url.set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = os.environ.get("DUI_TEST_DATABASE_URL")
    if server:
        yield from _postgres_database(server)
    else:
        yield "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.sqlite3")


@pytest.fixture(scope="session")
def is_postgres(database_url: str) -> bool:
    return database_url.startswith("postgresql")


#: the ANS CDA test kit (shared material, read-only) and a cache of its compiled schematrons kept between runs
ANS_KIT = Path(__file__).resolve().parents[2] / "shared" / "ans" / "testcontenucda"
ANS_EXAMPLES = ANS_KIT.parent / "cda-examples"
CDA_CACHE = Path(__file__).resolve().parents[1] / "var" / "cda-cache"


@pytest.fixture(scope="session")
def context(database_url: str) -> Any:
    # the FHIR, French-layer and document suites exercise the interactions without tokens; tests/auth and
    # tests/audit build their own context with auth_required=True (the default) and real tokens
    settings = load_settings(database_url=database_url, cda_kit_dir=str(ANS_KIT), cda_cache_dir=str(CDA_CACHE),
                             auth_required=False)
    ctx = build_context(settings)
    upgrade(ctx.repo.engine)
    yield ctx
    ctx.repo.engine.dispose()


@pytest.fixture(scope="session")
def cda_validator(context: Any) -> Any:
    """The app's CDA validator (one per test process: its schematrons are loaded once)."""
    return context.services.cda_validator


def wipe(ctx: Any) -> None:
    """Remove every row (schema kept): each test starts from an empty database."""
    with ctx.repo.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(t.name for t in metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(metadata.sorted_tables):
                conn.execute(table.delete())


@pytest.fixture()
def app(context: Any) -> Any:
    wipe(context)
    application = create_app(context.settings, context=context)
    application.testing = True
    return application


class FhirClient:
    """A thin JSON client over Flask's test client: ``fhir.post("Patient", {...})``."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
                content_type: str = FHIR_JSON) -> Any:
        hdrs = {"Accept": FHIR_JSON, **(headers or {})}
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            hdrs.setdefault("Content-Type", content_type)
        return self.client.open("/fhir/" + path.lstrip("/"), method=method, data=data, headers=hdrs)

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("PUT", path, body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("PATCH", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)

    def create(self, resource: dict[str, Any]) -> dict[str, Any]:
        """POST a resource and return the stored representation (asserting 201)."""
        resp = self.post(resource["resourceType"], resource)
        assert resp.status_code == 201, resp.get_data(as_text=True)
        return resp.get_json()  # type: ignore[no-any-return]

    def search(self, query: str) -> list[dict[str, Any]]:
        """The matched resources of a search (search.mode = match), asserting 200."""
        resp = self.get(query)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return [e["resource"] for e in resp.get_json().get("entry", []) if e["search"]["mode"] == "match"]

    def ids(self, query: str) -> set[str]:
        return {r["id"] for r in self.search(query)}


@pytest.fixture()
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture()
def fhir(client: Any) -> FhirClient:
    return FhirClient(client)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def live_server(app: Any, database_url: str) -> Iterator[str]:
    """A real ``dui serve`` (gunicorn, 2 worker processes) on the test database; yields its FHIR base URL."""
    import subprocess
    import sys
    import time

    import requests

    port = _free_port()
    dui = os.path.join(os.path.dirname(sys.executable), "dui")
    # like the ``context`` fixture: the concurrency tests exercise the interactions, not the token
    env = {**os.environ, "DUI_AUTH_REQUIRED": "false"}
    proc = subprocess.Popen([dui, "--database-url", database_url, "serve", "--port", str(port), "--workers", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(base + "/health", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"dui serve did not start: {err[-2000:]}")
            time.sleep(0.1)
        yield base + "/fhir"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
