"""``dui bench --suite audit``: the cost of the audit trail — an authenticated read and a 50-row search with the
AuditEvent written (fail closed, its own write transaction) against the same calls with ``[audit] enabled = false``,
as ratios measured in the same run.

One process, one thread, in-process calls of the FHIR router on a fresh SQLite database loaded with the French demo
data set (no HTTP: the figure is the audit's own cost, which HTTP and the token check would dilute). The principal
is a fixed ``system/*.rs`` one (what a validated bearer token gives); the access policy is the open one, so the
difference between the two columns is the audit alone. See :mod:`fhirserver.audit` and BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fhirserver.bench.report import machine_info

BASE = "http://127.0.0.1/fhir"


def _principal() -> Any:
    from fhirserver.auth.principal import Principal
    from fhirserver.auth.scopes import resource_scopes

    scope = "system/*.rs"
    return Principal(client_id="bench", scope=scope, scopes=resource_scopes(scope), token_id="bench",
                     grant_id="bench", subject="bench")


def _timed(call: Callable[[int], bool], duration: float) -> dict[str, Any]:
    for i in range(3):
        call(i)
    latencies: list[float] = []
    failures = n = 0
    deadline = time.perf_counter() + duration
    start = time.perf_counter()
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        failures += 0 if call(n) else 1
        latencies.append(time.perf_counter() - t0)
        n += 1
    wall = time.perf_counter() - start
    latencies.sort()
    return {"count": n, "failures": failures, "per_s": round(n / wall, 1),
            "p50_ms": round(statistics.median(latencies) * 1000, 3),
            "p95_ms": round(latencies[max(int(len(latencies) * 0.95) - 1, 0)] * 1000, 3)}


def run(duration: float) -> dict[str, Any]:
    from fhirserver.app import build_context
    from fhirserver.demo import build_demo_bundle
    from fhirserver.interactions.context import FhirRequest
    from fhirserver.interactions.router import handle
    from fhirserver.settings import load_settings

    with tempfile.TemporaryDirectory(prefix="dui-bench-audit-") as tmp:
        ctx = build_context(load_settings(database_url=f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"))
        try:
            if handle(FhirRequest("POST", "", body=build_demo_bundle(), base_url=BASE), ctx).status != 200:
                raise RuntimeError("loading the demo data failed")
            listing = handle(FhirRequest("GET", "Observation", params=[("_count", "1000"), ("_elements", "id")],
                                         base_url=BASE), ctx).resource
            ids = [e["resource"]["id"] for e in (listing or {}).get("entry", [])]
            principal = _principal()
            trail = ctx.services.audit
            if trail is None:
                raise RuntimeError("the domain registered no audit trail")

            def read(i: int) -> bool:
                req = FhirRequest("GET", f"Observation/{ids[i % len(ids)]}", base_url=BASE, principal=principal)
                return handle(req, ctx).status == 200

            def search(i: int) -> bool:
                req = FhirRequest("GET", "Observation", params=[("_count", "50")], base_url=BASE, principal=principal)
                return handle(req, ctx).status == 200

            rows: list[dict[str, Any]] = []
            for name, call in (("read", read), ("search-50", search)):
                trail.enabled = False
                off = _timed(call, duration)
                trail.enabled = True
                on = _timed(call, duration)
                ratio = round(on["per_s"] / off["per_s"], 3) if off["per_s"] else None
                rows.append({"scenario": name, "without_audit": off, "with_audit": on, "ratio": ratio})
        finally:
            ctx.repo.engine.dispose()
    return {"suite": "audit", "machine": machine_info(), "duration_s": duration, "observations": len(ids),
            "scenarios": rows}


def render(result: dict[str, Any]) -> str:
    lines = [f"audit cost, one process, one thread, SQLite ({result['duration_s']} s per column)", "",
             f"{'scenario':<12}{'off per s':>11}{'on per s':>10}{'off p50 ms':>12}{'on p50 ms':>11}{'ratio':>8}"]
    for s in result["scenarios"]:
        off, on = s["without_audit"], s["with_audit"]
        lines.append(f"{s['scenario']:<12}{off['per_s']:>11.1f}{on['per_s']:>10.1f}{off['p50_ms']:>12.3f}"
                     f"{on['p50_ms']:>11.3f}{s['ratio'] or 0:>8.3f}")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    duration = float(getattr(args, "duration", 10.0) or 10.0)
    if not 0 < duration <= 600:
        raise SystemExit("dui bench: --duration must be in (0, 600] s")
    result = run(duration)
    print(render(result))
    if getattr(args, "output", None):
        Path(args.output).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"\nresults written to {args.output}")
    failed = any(s[k]["failures"] for s in result["scenarios"] for k in ("without_audit", "with_audit"))
    return 1 if failed else 0
