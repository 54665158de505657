"""The ``dui`` command line. Other tooling depends on these names:

    dui serve [--host 127.0.0.1] [--port 8080] [--workers N]
    dui db upgrade
    dui load FILE...
    dui demo
    dui reindex [--restart] [--batch N]
    dui bench [--suite fhir|cda|audit] [...]
    dui cda validate FILE... [--kit-dir DIR] [--schematron NAME]... [--json]
    dui worker [--once] [--kind dmp|mssante]...
    dui outbox [--status S] [--kind K] [--limit N]
    dui dmp-sandbox --port N [--store FILE] [--kit-dir DIR]
    dui mss ingest [--once]  |  dui mss send --document-reference ID --to ADDRESS|patient
    dui clients add ...  |  dui users add|link ...  |  dui launch --patient ID

Every command reads the database from ``--database-url`` or ``DUI_DATABASE_URL`` (default: SQLite under ./var/).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fhirserver.settings import Settings, SettingsError, load_settings
from fhirserver.storage.sql.db import analyze

if TYPE_CHECKING:  # the command's modules are imported when it runs (a fast `dui --help`)
    from fhirserver.interactions.client import Fhir


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "database_url", None):
        overrides["database_url"] = args.database_url
    return load_settings(**overrides)


@contextmanager
def _context(settings: Settings) -> Iterator[Any]:
    """The application context for one command; its connection pool is closed when the command ends."""
    from fhirserver.app import build_context

    ctx = build_context(settings)
    try:
        yield ctx
    finally:
        ctx.repo.engine.dispose()


# --- serve ---------------------------------------------------------------------------------------

def cmd_serve(args: argparse.Namespace) -> int:
    from gunicorn.app.base import BaseApplication

    settings = _settings(args)
    if settings.database.is_sqlite and settings.database.auto_upgrade_sqlite:
        from fhirserver.storage.sql.db import make_engine
        from fhirserver.storage.sql.migrate import upgrade

        upgrade(make_engine(settings.database.url))  # once, before the workers start

    class App(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{args.host or settings.server.host}:{args.port or settings.server.port}")
            self.cfg.set("workers", args.workers or settings.server.workers)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", args.threads)
            self.cfg.set("accesslog", None)  # no request lines: URLs can carry health data in search parameters
            self.cfg.set("keepalive", 5)
            # a worker loads the ANS kit's compiled schematrons at start; Saxon can hold the GIL for seconds on a
            # busy machine, so the heartbeat gets more than gunicorn's default 30 s before the worker is replaced
            self.cfg.set("timeout", 120)

        def load(self) -> Any:
            from fhirserver.app import create_app

            app = create_app(settings)
            validator = app.config["DUI_CONTEXT"].services.cda_validator
            if validator is not None:  # load the schematrons (seconds) in the background, not on a first request
                threading.Thread(target=validator.warm_up, name="cda-warm-up", daemon=True).start()
            return app

    App().run()
    return 0


# --- db ------------------------------------------------------------------------------------------

def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from fhirserver.storage.sql.db import make_engine
    from fhirserver.storage.sql.migrate import upgrade

    settings = _settings(args)
    engine = make_engine(settings.database.url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    print("database schema is up to date")
    return 0


# --- load ----------------------------------------------------------------------------------------

def _read_resources(path: Path) -> Iterator[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".ndjson":
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except ValueError as exc:
                    raise SystemExit(f"{path}:{number}: not valid JSON ({exc})") from exc
        return
    if path.suffix == ".xml":
        from fhirserver.fhir.xml import xml_to_resource

        yield xml_to_resource(text)
        return
    yield json.loads(text)


def _fhir(ctx: Any, component: str) -> Fhir:
    """The in-process FHIR client of a command, as the system principal ``component`` (audited as such)."""
    from fhirserver.interactions.client import Fhir, system_principal

    return Fhir(ctx, system_principal(component))


def _submit(fhir: Fhir, resource: dict[str, Any]) -> tuple[int, str]:
    """Store one resource (PUT when it has an id, else POST) or run one transaction / batch Bundle; the status
    (200 when it succeeded) and the issues of a failure."""
    from fhirserver.errors import FhirError

    rt = resource.get("resourceType")
    minimal = {"prefer": "return=minimal"}
    try:
        if rt == "Bundle" and resource.get("type") in ("transaction", "batch"):
            fhir.transaction(resource, prefer="minimal")
        elif resource.get("id"):
            fhir.send("PUT", f"{rt}/{resource['id']}", body=resource, headers=minimal)
        else:
            fhir.send("POST", str(rt), body=resource, headers=minimal)
    except FhirError as exc:
        detail = "; ".join((", ".join(i.expression) + ": " if i.expression else "") + i.diagnostics
                           for i in exc.issues)[:500]
        return exc.status, detail
    return 200, ""


def cmd_load(args: argparse.Namespace) -> int:
    with _context(_settings(args)) as ctx:
        code = _load_files(ctx, args.files)
        analyze(ctx.repo.engine)
        return code


def _load_files(ctx: Any, files: list[str]) -> int:
    fhir = _fhir(ctx, "dui load")
    failures = loaded = 0
    for name in files:
        for resource in _read_resources(Path(name)):
            items = [resource]
            if resource.get("resourceType") == "Bundle" and resource.get("type") not in ("transaction", "batch"):
                items = [e["resource"] for e in resource.get("entry", []) if "resource" in e]
            for item in items:
                status, detail = _submit(fhir, item)
                if status >= 400:
                    failures += 1
                    print(f"{name}: {item.get('resourceType')}/{item.get('id', '')}: HTTP {status} {detail}",
                          file=sys.stderr)
                else:
                    loaded += 1
    print(f"loaded {loaded} item(s), {failures} failure(s)")
    return 1 if failures else 0


# --- demo ----------------------------------------------------------------------------------------

def cmd_demo(args: argparse.Namespace) -> int:
    from fhirserver.demo import build_demo_bundle

    bundle = build_demo_bundle()
    from fhirserver.auth.operator import ensure_demo_access
    from fhirserver.auth.store import AuthStore

    with _context(_settings(args)) as ctx:
        status, detail = _submit(_fhir(ctx, "dui demo"), bundle)
        analyze(ctx.repo.engine)
        access = ensure_demo_access(AuthStore(ctx.repo.engine)) if status < 400 else []
    if status >= 400:
        print(f"demo data could not be loaded: HTTP {status} {detail}", file=sys.stderr)
        return 1
    print(f"demo data loaded: {len(bundle['entry'])} resources (EHPAD Les Tilleuls, SSIAD du Val de Saône)")
    for line in access:
        print(line)
    return 0


# --- reindex -------------------------------------------------------------------------------------

def registry_fingerprint(ctx: Any) -> str:
    digest = hashlib.sha256()
    for rt, sp in ctx.registry.all_params():
        digest.update(f"{rt}|{sp.code}|{sp.type}|{sp.expression}\n".encode())
    return digest.hexdigest()[:16]


def run_reindex(ctx: Any, *, batch: int = 500, restart: bool = False, stop_after: int | None = None) -> int:
    """Rebuild the index rows of every resource, in keyset batches with a persisted checkpoint.

    Online: each batch is its own short transaction, so readers and writers carry on; writes made meanwhile
    are indexed by the write path itself. Resumable: a killed run continues from the last committed batch.
    Returns the number of resources reindexed by this run.
    """
    from sqlalchemy import select

    from fhirserver.search.values import now_utc
    from fhirserver.storage.sql.schema import reindex_state

    job = "reindex-" + registry_fingerprint(ctx)
    done = 0
    with ctx.repo.session(write=True) as s:
        row = s.conn.execute(select(reindex_state).where(reindex_state.c.job == job)).first()
        if row is None or restart:
            s.conn.execute(reindex_state.delete().where(reindex_state.c.job == job))
            s.conn.execute(reindex_state.insert().values(job=job, last_rid=0, done=False, updated=now_utc()))
            last = 0
        else:
            last = int(row.last_rid) if not row.done else 0
            if row.done:
                s.conn.execute(reindex_state.update().where(reindex_state.c.job == job)
                               .values(last_rid=0, done=False, updated=now_utc()))
    while True:
        with ctx.repo.session(write=True) as s:
            step = s.reindex_after(last, batch)
            if step is None:
                s.conn.execute(reindex_state.update().where(reindex_state.c.job == job)
                               .values(done=True, updated=now_utc()))
                return done
            # the checkpoint commits with the batch it describes
            last, count = step
            s.conn.execute(reindex_state.update().where(reindex_state.c.job == job)
                           .values(last_rid=last, updated=now_utc()))
            done += count
        if stop_after is not None and done >= stop_after:
            return done


def cmd_reindex(args: argparse.Namespace) -> int:
    with _context(_settings(args)) as ctx:
        count = run_reindex(ctx, batch=args.batch, restart=args.restart)
    print(f"reindexed {count} resource(s)")
    return 0


# --- bench ---------------------------------------------------------------------------------------

def cmd_bench(args: argparse.Namespace) -> int:
    if args.suite == "cda":
        from fhirserver.bench import cda

        return cda.main(args)
    if args.suite == "audit":
        from fhirserver.bench import audit

        return audit.main(args)
    from fhirserver.bench import main as bench_main

    return bench_main(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dui", description="FHIR-native DUI server")
    parser.add_argument("--database-url", help="SQLAlchemy URL (default: DUI_DATABASE_URL or SQLite in ./var/)")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP server (gunicorn)")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--workers", type=int, default=None)
    serve.add_argument("--threads", type=int, default=4)
    serve.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", help="apply Alembic migrations")
    up.set_defaults(func=cmd_db_upgrade)

    load = sub.add_parser("load", help="load JSON resources, Bundles and NDJSON files")
    load.add_argument("files", nargs="+")
    load.set_defaults(func=cmd_load)

    demo = sub.add_parser("demo", help="load the French demo data set (EHPAD + SSIAD)")
    demo.set_defaults(func=cmd_demo)

    reindex = sub.add_parser("reindex", help="rebuild search indexes online (resumable)")
    reindex.add_argument("--batch", type=int, default=500)
    reindex.add_argument("--restart", action="store_true", help="start over instead of resuming")
    reindex.set_defaults(func=cmd_reindex)

    bench = sub.add_parser("bench", help="measure throughput against an in-run baseline (see BENCHMARKS.md)")
    bench.add_argument("--resources", type=int, default=100_000, help="data set size (whole Bundles of 100)")
    bench.add_argument("--duration", type=float, default=10.0, help="seconds per timed scenario")
    bench.add_argument("--databases", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    bench.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/dui_bench",
                       help="PostgreSQL URL; its database is DROPPED and recreated")
    bench.add_argument("--output", default=None, help="write the results as JSON to this file")
    bench.add_argument("--workers", type=int, default=2, help="gunicorn workers, server and baseline alike")
    bench.add_argument("--server-threads", type=int, default=4, help="gthread threads per worker (as dui serve)")
    bench.add_argument("--client-processes", type=int, default=2, help="load generator processes")
    bench.add_argument("--client-threads", type=int, default=4, help="keep-alive connections per client process")
    bench.add_argument("--ingest-clients", type=int, default=4, help="concurrent clients posting transaction Bundles")
    bench.add_argument("--ingest-timeout", type=float, default=1800.0, help="seconds after which ingest stops")
    bench.add_argument("--seed", type=int, default=1, help="seed of the data set and of the request draws")
    bench.add_argument("--suite", choices=("fhir", "cda", "audit"), default="fhir",
                       help="fhir: the server over HTTP; cda: documents per second per core (generation + ANS kit)")
    bench.add_argument("--kit-dir", default=None, help="--suite cda: the ANS kit (default: [cda] kit_dir)")
    bench.set_defaults(func=cmd_bench)

    # each package adds its own sub-commands (register(sub) -> None)
    from fhirserver.audit import cli as audit_cli  # dui audit purge
    from fhirserver.auth import cli as auth_cli
    from fhirserver.auth import operator as auth_operator
    from fhirserver.auth.logins import cli as identity_cli  # dui invitations
    from fhirserver.documents import cli as cda_cli
    from fhirserver.integrations.dmp import cli as dmp_cli
    from fhirserver.integrations.mssante import cli as mssante_cli
    from fhirserver.integrations.outbox import cli as outbox_cli

    for module in (cda_cli, dmp_cli, outbox_cli, mssante_cli, auth_cli, auth_operator, identity_cli, audit_cli):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # subcommands may also take --database-url after their name
    try:
        return int(args.func(args))
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
