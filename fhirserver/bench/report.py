"""Reporting for ``dui bench``: machine facts, the readable table and the targets of the issue."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

READ_CEILING = "baseline read (ceiling)"
WRITE_CEILING = "baseline write (ceiling)"

#: (label, scenario, figure, comparison, threshold): the targets of the issue, stated for PostgreSQL.
TARGETS: tuple[tuple[str, str, str, str, float], ...] = (
    ("reads >= 60 % of the read ceiling", "read Patient by id", "ratio", ">=", 0.60),
    ("creates >= 800/s", "create Patient", "rps", ">=", 800.0),
    ("transaction ingest >= 3,000 resources/s", "transaction ingest", "rps", ">=", 3000.0),
    ("token search Patient?identifier p95 <= 50 ms", "search token Patient?identifier", "p95_ms", "<=", 50.0),
    ("token search Observation?code p95 <= 50 ms", "search token Observation?code", "p95_ms", "<=", 50.0),
    ("reference search + _include p95 <= 50 ms", "search reference+_include", "p95_ms", "<=", 50.0),
)


def machine_info() -> dict[str, Any]:
    """Facts about the machine and the code measured (CPU, cores, memory, load, Python, commit)."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        first = Path("/proc/meminfo").read_text(encoding="ascii").splitlines()[0]
        mem = f"{int(first.split()[1]) / 1024 / 1024:.1f} GiB"
    except (OSError, IndexError, ValueError):
        pass
    repo = Path(__file__).resolve().parents[2]
    commit = ""
    dirty = False
    try:
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = bool(subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                                    capture_output=True, text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        import gunicorn

        gunicorn_version = str(gunicorn.__version__)
    except ImportError:  # pragma: no cover - gunicorn is a dependency
        gunicorn_version = ""
    return {"nproc": os.cpu_count(), "cpu_model": model, "memory": mem, "python": sys.version.split()[0],
            "platform": platform.platform(), "gunicorn": gunicorn_version, "loadavg_at_start": os.getloadavg(),
            "commit": commit + (" (with uncommitted changes)" if dirty else "")}


def _ceiling(db: dict[str, Any], name: str) -> tuple[str, float]:
    """The baseline a scenario is compared with: writes with the write ceiling, reads with the read ceiling."""
    key = WRITE_CEILING if name in ("create Patient", "transaction ingest") else READ_CEILING
    return ("write" if key == WRITE_CEILING else "read"), float(db["baseline"].get(key, {}).get("rps") or 0.0)


def add_ratios(db: dict[str, Any]) -> None:
    """Store beside every scenario its baseline (ceiling kind and req/s) and the ratio to it."""
    cores = os.cpu_count() or 1
    for s in [*db["scenarios"].values(), *db["baseline"].values()]:
        extra = s.setdefault("extra", {})
        ours = s["client_cores"] + extra.get("server_cores", 0.0) + extra.get("db_cores", 0.0)
        extra["other_cores"] = max(0.0, s["machine_busy"] * cores - ours)  # other engineers' jobs, kernel, ...
    for name, s in db["scenarios"].items():
        kind, ceiling = _ceiling(db, name)
        s["ceiling"] = kind
        s["ceiling_rps"] = ceiling
        s["ratio"] = s["rps"] / ceiling if ceiling else None


def evaluate(db: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with the measured figure and whether it is met."""
    out = []
    for label, scenario, figure, op, threshold in TARGETS:
        s = db["scenarios"].get(scenario)
        value = None if s is None else s.get(figure)
        met = None if value is None else (value >= threshold if op == ">=" else value <= threshold)
        if s is not None and s.get("errors"):
            met = False
        out.append({"target": label, "scenario": scenario, "figure": figure, "value": value, "met": met})
    return out


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def table(db: dict[str, Any]) -> str:
    """A fixed-width table of one database's figures, each beside its baseline and ratio."""
    head = (f"{'scenario':<34}{'rate':>14}{'p50 ms':>9}{'p95 ms':>9}{'errors':>8}  {'baseline':>15}{'ratio':>7}"
            f"  {'cores srv/db/cli/other':>22}  sample")
    lines = [head, "-" * len(head)]
    rows = list(db["scenarios"].values()) + list(db["baseline"].values())
    for s in rows:
        unit = " res/s" if s["name"] == "transaction ingest" else " req/s"
        base = "" if s["name"] in (READ_CEILING, WRITE_CEILING) else f"{s.get('ceiling', '')} {_fmt(s.get('ceiling_rps'))}"
        ratio = "" if s.get("ratio") is None else f"{s['ratio']:.2f}"
        extra = s.get("extra") or {}
        cores = "/".join(_fmt(extra.get(k), 1) if k in extra else "-"
                         for k in ("server_cores", "db_cores")) + f"/{s['client_cores']:.1f}" + \
            f"/{extra.get('other_cores', 0.0):.1f}"
        sample = extra.get("sample") or {}
        hits = f"{sample.get('matches', '?')}+{sample.get('includes', 0)}" if sample else ""
        lines.append(f"{s['name']:<34}{_fmt(s['rps']) + unit:>14}{s['p50_ms']:>9.1f}{s['p95_ms']:>9.1f}"
                     f"{s['errors']:>8}  {base:>15}{ratio:>7}  {cores:>22}  {hits}")
    return "\n".join(lines)


def render(results: dict[str, Any]) -> str:
    """The whole readable report: machine, one table per database, targets."""
    m = results["machine"]
    c = results["config"]
    out = [f"dui bench - {m['cpu_model']} x {m['nproc']} cores, {m['memory']}, Python {m['python']}, "
           f"gunicorn {m['gunicorn']}, commit {m['commit']}, load average at start "
           f"{' '.join(f'{x:.2f}' for x in m['loadavg_at_start'])}",
           f"server and baseline: gunicorn gthread, {c['workers']} workers x {c['server_threads']} threads; "
           f"client: {c['client_processes']} processes x {c['client_threads']} keep-alive connections, "
           f"{c['duration']:g} s per scenario; ingest: {c['ingest_clients']} concurrent clients, Bundles of 100"]
    for name, db in results["databases"].items():
        if "error" in db:
            out += ["", f"== {name}: FAILED: {db['error']}"]
            continue
        ingest = db["scenarios"].get("transaction ingest", {})
        loaded = (ingest.get("extra") or {}).get("resources_loaded", 0)
        out += ["", f"== {name} ({db['version']}): {loaded:,} resources ingested in {ingest.get('elapsed_s', 0):.1f} s",
                table(db), "", "targets (stated for PostgreSQL):"]
        for t in db["targets"]:
            mark = {True: "MET   ", False: "MISSED", None: "n/a   "}[t["met"]]
            digits = 2 if t["figure"] == "ratio" else 1 if t["figure"] == "p95_ms" else 0
            out.append(f"  {mark} {t['target']:<48} measured {_fmt(t['value'], digits)}")
    out += ["", "rate: completed 2xx per second; errors: non-2xx or failed requests; baseline: the read or write "
                "ceiling of the minimal Flask app on the same database and gunicorn settings; cores: CPU used by "
                "the server (gunicorn tree), PostgreSQL, the load generator and everything else on the machine; sample: matches+includes of one "
                "request of the search."]
    return "\n".join(out)
