"""Engine creation: SQLite (WAL, one writer at a time with BEGIN IMMEDIATE) and PostgreSQL (psycopg 3).

SQLite: https://www.sqlite.org/wal.html, https://docs.sqlalchemy.org/en/20/dialects/sqlite.html#serializable-isolation-savepoints-transactional-ddl
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url


def make_engine(url: str, *, pool_size: int = 10, statement_timeout_ms: int = 0) -> Engine:
    """An engine for ``url``; creates the SQLite file's directory when needed."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database)
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            url = str(parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False))
        # no server-side prepared statements: after five executions PostgreSQL would switch a search to a
        # generic plan that ignores the selectivity of its values (measured: 0.4 ms -> 200 ms on a token search)
        connect_args: dict[str, Any] = {"prepare_threshold": None}
        if statement_timeout_ms:
            connect_args["options"] = f"-c statement_timeout={int(statement_timeout_ms)}"
        return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
                             connect_args=connect_args)
    raise ValueError(f"unsupported database {parsed.get_backend_name()!r}: use sqlite or postgresql")


def _sqlite_engine(url: str, database: str | None) -> Engine:
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # take transaction control away from pysqlite: we emit BEGIN ourselves
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        if database != ":memory:":
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Any) -> None:
        # writers serialise on the database write lock from their first statement (no upgrade deadlocks)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("dui_write") else "BEGIN")

    return engine


def default_sqlite_url() -> str:
    return "sqlite:///" + os.path.join("var", "dui.sqlite3")


def analyze(engine: Engine) -> None:
    """Refresh the planner statistics (after bulk loads): SQLite and PostgreSQL choose better index plans."""
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
