"""``dui bench``: throughput and latency of the real server against an in-run baseline (see BENCHMARKS.md).

For each database asked for (a fresh SQLite file; a PostgreSQL database dropped and recreated) it starts
``dui serve`` with gunicorn, ingests a deterministic French care-home data set as transaction Bundles, measures
creates, reads by id and five searches, then runs a minimal Flask app under the same gunicorn settings on the same
database as the read and write ceilings, and prints every figure beside its baseline and the ratio.
All traffic goes to 127.0.0.1; every scenario is bounded in time (and ingest in count).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fhirserver.bench.report import add_ratios, evaluate, machine_info, render
from fhirserver.bench.runner import BenchConfig, run_database


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    """The run's configuration from the ``dui bench`` arguments (missing ones take the defaults)."""
    defaults = BenchConfig()
    databases = tuple(d.strip() for d in str(getattr(args, "databases", "") or "").split(",") if d.strip())
    for d in databases:
        if d not in ("sqlite", "postgresql"):
            raise SystemExit(f"--databases: unknown database {d!r} (use sqlite, postgresql or both)")

    def pick(name: str) -> Any:
        value = getattr(args, name, None)
        return getattr(defaults, name) if value is None else value

    cfg = BenchConfig(resources=int(pick("resources")), duration=float(pick("duration")),
                      databases=databases or defaults.databases, pg_url=str(pick("pg_url")),
                      workers=int(pick("workers")), server_threads=int(pick("server_threads")),
                      client_processes=int(pick("client_processes")), client_threads=int(pick("client_threads")),
                      ingest_clients=int(pick("ingest_clients")), ingest_timeout=float(pick("ingest_timeout")),
                      seed=int(pick("seed")), output=getattr(args, "output", None))
    if cfg.resources < 100 or cfg.duration <= 0 or cfg.duration > 600 or min(
            cfg.workers, cfg.server_threads, cfg.client_processes, cfg.client_threads, cfg.ingest_clients) < 1:
        raise SystemExit("dui bench: --resources must be >= 100, --duration in (0, 600] s and every count >= 1")
    return cfg


def main(args: argparse.Namespace) -> int:
    """Run the benchmark; print the table, write JSON if ``--output`` is given. 0 when every database ran."""
    cfg = config_from_args(args)
    started = time.time()
    results: dict[str, Any] = {"machine": machine_info(), "config": asdict(cfg),
                               "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
                               "databases": {}}
    failed = False
    for kind in cfg.databases:
        try:
            db = run_database(kind, cfg)
        except (RuntimeError, OSError) as exc:
            failed = True
            print(f"dui bench: {kind} failed: {exc}", file=sys.stderr)
            results["databases"][kind] = {"error": str(exc)}
            continue
        add_ratios(db)
        db["targets"] = evaluate(db)
        results["databases"][kind] = db
    results["wall_s"] = round(time.time() - started, 1)
    print(render(results))
    if cfg.output:
        Path(cfg.output).write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"\nresults written to {cfg.output}")
    return 1 if failed else 0
