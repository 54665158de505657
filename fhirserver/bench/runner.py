"""One database's benchmark: fresh database, real server, ingest, reads, searches, creates, then the baseline.

Order (per database): start ``dui serve`` on an empty database; ingest the data set with transaction Bundles
(this is both a measured scenario and the set-up of the 100k searches); on PostgreSQL ``ANALYZE`` (what
autovacuum would do minutes later anyway); read by id; the five searches; creates (last, so that the searches see
exactly the ingested data set); stop the server; start the baseline app with the same gunicorn settings on the same
database; seed it with the same Patients under the same ids; measure its read and write ceilings.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from fhirserver.bench import data
from fhirserver.bench.baseline import URL_VARIABLE, reset_table, seed
from fhirserver.bench.load import HOST, Result, Scenario, _Client, run_ingest, run_timed
from fhirserver.bench.servers import Served, dui_command, free_port, postgres_cpu_seconds
from fhirserver.storage.sql.db import make_engine

POOL = 2000  # distinct requests per scenario pool


@dataclass(frozen=True)
class BenchConfig:
    """Everything a run depends on (from the ``dui bench`` arguments)."""

    resources: int = 100_000
    duration: float = 10.0
    databases: tuple[str, ...] = ("sqlite", "postgresql")
    pg_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/dui_bench"
    workers: int = 2
    server_threads: int = 4
    client_processes: int = 2
    client_threads: int = 4
    ingest_clients: int = 4
    ingest_timeout: float = 1800.0
    seed: int = 1
    output: str | None = None


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _prepare_postgres(url: str) -> None:
    """Drop and recreate the benchmark database named in ``url`` (never a system database)."""
    parsed = make_url(url)
    name = parsed.database or ""
    if not name or name in ("postgres", "template0", "template1") or not name.replace("_", "").isalnum():
        raise SystemExit(f"refusing to drop and recreate database {name!r}: give --pg-url a dedicated database")
    admin = create_engine(parsed.set(drivername="postgresql+psycopg", database="postgres"),
                          isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()


def _database_version(url: str) -> str:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                return str(conn.execute(text("SHOW server_version")).scalar_one())
            return "SQLite " + str(conn.execute(text("SELECT sqlite_version()")).scalar_one())
    finally:
        engine.dispose()


def _run(cmd: list[str], log: Path) -> None:
    import subprocess

    with open(log, "ab") as out:
        code = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if code:
        raise RuntimeError(f"{' '.join(cmd)} failed with code {code}; see {log}")


def _sample(port: int, path: str) -> dict[str, Any]:
    """One request of a search scenario, to check it finds something (matches / includes)."""
    client = _Client(port)
    try:
        status, body = client.send("GET", path, None, {"Accept": "application/fhir+json"})
    finally:
        client.close()
    out: dict[str, Any] = {"status": status, "path": path}
    if status == 200:
        entries = json.loads(body).get("entry") or []
        modes = [(e.get("search") or {}).get("mode") for e in entries]
        out["matches"] = modes.count("match")
        out["includes"] = modes.count("include")
    return out


def _search_scenarios(loaded: list[tuple[int, str]], rng: random.Random) -> list[Scenario]:
    """The five search scenarios, each a seeded pool of distinct requests over the ingested data set."""
    picks = [loaded[rng.randrange(len(loaded))] for _ in range(POOL)]

    def q(rt: str, params: list[tuple[str, str]]) -> str:
        return f"/fhir/{rt}?{urlencode(params)}"

    return [
        Scenario("search token Patient?identifier", "GET",
                 [q("Patient", [("identifier", f"{data.NIR_SYSTEM}|{data.nir(i)}")]) for i, _ in picks]),
        Scenario("search token Observation?code", "GET",
                 [q("Observation", [("code", f"{data.LOINC}|{rng.choice(data.LOINC_CODES)}"), ("_count", "20")])
                  for _ in range(POOL)]),
        Scenario("search string Patient?family", "GET",
                 [q("Patient", [("family", rng.choice(data.SURNAMES)), ("_count", "20")]) for _ in range(POOL)]),
        Scenario("search date Observation?date", "GET",
                 [q("Observation", [("date", data.day(rng.randrange(data.DAYS))), ("_count", "20")])
                  for _ in range(POOL)]),
        Scenario("search reference+_include", "GET",
                 [q("Observation", [("subject", f"Patient/{pid}"), ("_include", "Observation:subject")])
                  for _, pid in picks]),
    ]


def _compact(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _stored_patient(i: int, pid: str, seed_value: int) -> str:
    """Patient ``i`` as the server stores it (id and meta added), for the baseline's read ceiling."""
    body = data.bundle(i // data.PATIENTS_PER_BUNDLE, seed_value)["entry"][i % data.PATIENTS_PER_BUNDLE]["resource"]
    stored = {"resourceType": "Patient", "id": pid,
              "meta": {"versionId": "1", "lastUpdated": "2025-01-01T00:00:00.000+00:00"},
              **{k: v for k, v in body.items() if k != "resourceType"}}
    return json.dumps(stored, ensure_ascii=False, separators=(",", ":"))


def run_database(kind: str, cfg: BenchConfig) -> dict[str, Any]:
    """Benchmark ``kind`` (``sqlite`` or ``postgresql``) and return its figures as a JSON-ready dictionary."""
    workdir = Path(tempfile.mkdtemp(prefix=f"dui-bench-{kind}-"))
    try:
        return _run_database(kind, cfg, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run_database(kind: str, cfg: BenchConfig, workdir: Path) -> dict[str, Any]:
    shape = data.shape(cfg.resources)
    if kind == "sqlite":
        url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    elif kind == "postgresql":
        url = cfg.pg_url
        _log(f"postgresql: recreating database {make_url(url).database!r}")
        _prepare_postgres(url)
        _run([*dui_command(), "--database-url", url, "db", "upgrade"], workdir / "upgrade.log")
    else:
        raise SystemExit(f"unknown database {kind!r}: use sqlite and/or postgresql")
    env = {k: v for k, v in os.environ.items() if k != "DUI_DATABASE_URL"}
    # the scenarios measure the FHIR engine (as in the earlier runs of BENCHMARKS.md): no bearer token, no audit
    env["DUI_AUTH_REQUIRED"] = "false"
    out: dict[str, Any] = {"database": kind, "url": url if kind == "postgresql" else "sqlite:///<tmp>/bench.sqlite3",
                           "version": "", "scenarios": {}, "baseline": {}}
    results: dict[str, Result] = {}

    def timed(port: int, scenario: Scenario) -> Result:
        return run_timed(port, scenario, duration=cfg.duration, processes=cfg.client_processes,
                         threads=cfg.client_threads, seed=cfg.seed, probe=probe)

    # --- the FHIR server ------------------------------------------------------------------------
    port = free_port()
    server = Served(f"dui serve ({kind})",
                    [*dui_command(), "--database-url", url, "serve", "--host", HOST, "--port", str(port),
                     "--workers", str(cfg.workers), "--threads", str(cfg.server_threads)],
                    port, workdir / "server.log", env=env)

    def probe() -> dict[str, float]:
        # ``server`` is rebound to the baseline below: the probe always measures the server under test
        cpu = {"server": server.cpu_seconds()}
        if kind == "postgresql":
            cpu["db"] = postgres_cpu_seconds(str(make_url(url).database))
        return cpu

    _log(f"{kind}: starting the server on port {port}")
    server.start()
    try:
        out["version"] = _database_version(url)
        _log(f"{kind}: ingesting {shape.resources:,} resources in {shape.bundles:,} transaction Bundles")
        make: Callable[[int], bytes] = lambda b: data.bundle_bytes(b, cfg.seed)  # noqa: E731
        ingest, ids = run_ingest(port, shape.bundles, make, clients=cfg.ingest_clients,
                                 processes=cfg.client_processes, patients_per_bundle=data.PATIENTS_PER_BUNDLE,
                                 resources_per_bundle=data.BUNDLE_SIZE, deadline_s=cfg.ingest_timeout, probe=probe)
        results["ingest"] = ingest
        _log(f"{kind}: ingest {ingest.rps:,.0f} resources/s ({ingest.extra['resources_loaded']:,} in "
             f"{ingest.elapsed_s:.1f} s, {ingest.errors} failed Bundles)")
        if kind == "sqlite":  # the WAL grows while writers never leave it idle long enough to checkpoint
            for suffix in ("", "-wal"):
                f = workdir / f"bench.sqlite3{suffix}"
                ingest.extra[f"sqlite_file{suffix or '_main'}_mb"] = round(f.stat().st_size / 2**20, 1) if f.exists() else 0
        if ingest.first_error:
            _log(f"{kind}: first ingest error: {ingest.first_error}")
        loaded = [(b * data.PATIENTS_PER_BUNDLE + k, pid) for b in sorted(ids) for k, pid in enumerate(ids[b])
                  if pid]
        if not loaded:
            raise RuntimeError(f"no Patient was ingested; server log:\n{server.log_tail()}")
        if kind == "postgresql":
            engine = make_engine(url)
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("ANALYZE"))
            engine.dispose()
        rng = random.Random(cfg.seed)
        reads = Scenario("read Patient by id", "GET",
                         [f"/fhir/Patient/{loaded[rng.randrange(len(loaded))][1]}" for _ in range(POOL)])
        searches = _search_scenarios(loaded, rng)
        samples = {s.name: _sample(port, s.paths[0]) for s in searches}
        for scenario in [reads, *searches]:
            _log(f"{kind}: {scenario.name} for {cfg.duration:g} s")
            results[scenario.name] = timed(port, scenario)
            if scenario.name in samples:
                results[scenario.name].extra["sample"] = samples[scenario.name]
        creates = Scenario("create Patient", "POST", ["/fhir/Patient"],
                           bodies=[_compact(data.new_patient(k)) for k in range(500)])
        _log(f"{kind}: {creates.name} for {cfg.duration:g} s")
        results["create"] = timed(port, creates)
    finally:
        t0 = time.monotonic()
        server.stop()
        _log(f"{kind}: server stopped in {time.monotonic() - t0:.1f} s")
    out["server_log_tail"] = server.log_tail(10)
    out["scenarios"] = {r.name: r.as_dict() for r in results.values()}

    # --- the baseline on the same database, same gunicorn settings --------------------------------
    engine = make_engine(url)
    try:
        reset_table(engine)
        seeded = seed(engine, ((pid, _stored_patient(i, pid, cfg.seed)) for i, pid in loaded))
    finally:
        engine.dispose()
    port = free_port()
    baseline = Served(f"baseline ({kind})",
                      [sys.executable, "-m", "gunicorn", "--bind", f"{HOST}:{port}", "--workers", str(cfg.workers),
                       "--worker-class", "gthread", "--threads", str(cfg.server_threads), "--keep-alive", "5", "--no-control-socket",
                       "fhirserver.bench.baseline:create_app()"],
                      port, workdir / "baseline.log", env={**env, URL_VARIABLE: url})
    server = baseline

    _log(f"{kind}: starting the baseline on port {port} ({seeded:,} blobs)")
    baseline.start()
    try:
        rng = random.Random(cfg.seed)
        ceil_read = Scenario("baseline read (ceiling)", "GET",
                             [f"/blob/{loaded[rng.randrange(len(loaded))][1]}" for _ in range(POOL)])
        ceil_write = Scenario("baseline write (ceiling)", "POST", ["/blob"],
                              bodies=[_compact(data.new_patient(k)) for k in range(500)])
        for scenario in (ceil_read, ceil_write):
            _log(f"{kind}: {scenario.name} for {cfg.duration:g} s")
            out["baseline"][scenario.name] = timed(port, scenario).as_dict()
    finally:
        baseline.stop()
    return out
