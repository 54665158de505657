"""``dui bench --suite cda``: documents produced per second per core — gathering the FHIR data, building the CDA,
and validating it with the ANS kit (XSD + compiled schematrons), against a baseline measured in the same run.

One process, one thread (so the figures are "per core"), in-process calls of the FHIR router on a fresh SQLite
database loaded with the French demo data set (no HTTP, so the figures are those of the document path itself).
Scenarios, each run for ``--duration`` seconds over the demo's eligible documents in turn:

* ``baseline-read``: ``GET DocumentReference/{id}`` (router + one indexed read + JSON) — the baseline;
* ``n1-generate``: gather + build the N1 CDA (no validation);
* ``n1-xsd``: the same + the XSD;
* ``n1-full``: ``POST DocumentReference/{id}/$generate-cda`` — gather, build, XSD and structuration minimale:
  the issue's target is 30 documents/s per core;
* ``dlu-full``: ``POST Patient/{id}/$dlu`` — the DLU-EHPAD with its volet schematron too;
* ``ppa-full``: ``POST CarePlan/{id}/$generate-cda`` — the projet personnalisé: PDF rendering, N1, validation.

Schematrons are compiled and loaded before the clock starts (that cost is paid once per process, see
BENCHMARKS.md).
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

TARGET_N1_PER_S = 30.0
BASE = "http://127.0.0.1/fhir"


def _ids(ctx: Any, path: str) -> list[str]:
    from fhirserver.interactions.context import FhirRequest
    from fhirserver.interactions.router import handle

    bundle = handle(FhirRequest("GET", path, params=[("_count", "1000"), ("_elements", "id")], base_url=BASE), ctx)
    return [e["resource"]["id"] for e in (bundle.resource or {}).get("entry", [])]


def _eligible(ctx: Any, op: Callable[[str], Any], ids: list[str]) -> list[str]:
    """The ids for which the operation succeeds (demo usagers with a provisional identity are refused)."""
    return [i for i in ids if op(i).status == 200]


def _timed(name: str, call: Callable[[str], Any], ids: list[str], duration: float) -> dict[str, Any]:
    if not ids:
        return {"scenario": name, "error": "no eligible resource in the demo data"}
    for i in ids[:3]:  # warm-up, untimed
        call(i)
    latencies: list[float] = []
    failures = 0
    deadline = time.perf_counter() + duration
    cpu0 = time.process_time()
    start = time.perf_counter()
    n = 0
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        ok = call(ids[n % len(ids)])
        latencies.append(time.perf_counter() - t0)
        failures += 0 if ok else 1
        n += 1
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    latencies.sort()
    return {"scenario": name, "count": n, "failures": failures, "per_s": round(n / wall, 1),
            "cpu_per_s": round(n / cpu, 1) if cpu else None,
            "p50_ms": round(statistics.median(latencies) * 1000, 2),
            "p95_ms": round(latencies[int(len(latencies) * 0.95) - 1] * 1000, 2), "documents": len(ids)}


def run(duration: float, kit_dir: str, cache_dir: str) -> dict[str, Any]:
    from fhirserver.app import build_context
    from fhirserver.demo import build_demo_bundle
    from fhirserver.interactions.context import FhirRequest
    from fhirserver.interactions.operations.cda import n1_generator
    from fhirserver.interactions.router import handle
    from fhirserver.settings import load_settings

    with tempfile.TemporaryDirectory(prefix="dui-bench-cda-") as tmp:
        settings = load_settings(database_url=f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", cda_kit_dir=kit_dir,
                                 cda_cache_dir=cache_dir)
        ctx = build_context(settings)
        try:
            loaded = handle(FhirRequest("POST", "", body=build_demo_bundle(), base_url=BASE), ctx)
            if loaded.status != 200:
                raise RuntimeError(f"loading the demo data failed: HTTP {loaded.status}")
            validator = ctx.services.cda_validator
            if validator is None:
                raise RuntimeError("no CDA validator: the ANS kit ([cda] kit_dir) is needed")
            started = time.perf_counter()
            validator.warm_up(("structuration-minimale", "DLU-EHPAD-DLU"))
            warm_up_s = round(time.perf_counter() - started, 1)

            def op(path: str) -> Callable[[str], Any]:
                return lambda i: handle(FhirRequest("POST", path.format(i), base_url=BASE), ctx)

            generate_cda = op("DocumentReference/{}/$generate-cda")
            docs = _eligible(ctx, generate_cda, _ids(ctx, "DocumentReference"))
            patients = _eligible(ctx, op("Patient/{}/$dlu"), _ids(ctx, "Patient"))
            plans = _eligible(ctx, op("CarePlan/{}/$generate-cda"), _ids(ctx, "CarePlan"))

            def read(i: str) -> bool:
                return bool(handle(FhirRequest("GET", f"DocumentReference/{i}", base_url=BASE), ctx).status == 200)

            def generate(i: str) -> bytes:
                def build(session: Any) -> bytes:
                    stored = session.read("DocumentReference", i)
                    return n1_generator(FhirRequest("POST", f"DocumentReference/{i}/$generate-cda"), ctx, session,
                                        stored)

                return bytes(ctx.repo.run(build, write=False))

            def with_xsd(i: str) -> bool:
                from lxml import etree

                return not validator.check_schema(etree.fromstring(generate(i)))

            def status_ok(call: Callable[[str], Any]) -> Callable[[str], bool]:
                return lambda i: bool(call(i).status == 200)

            scenarios = [
                _timed("baseline-read", read, docs, duration),
                _timed("n1-generate", lambda i: bool(generate(i)), docs, duration),
                _timed("n1-xsd", with_xsd, docs, duration),
                _timed("n1-full", status_ok(generate_cda), docs, duration),
                _timed("dlu-full", status_ok(op("Patient/{}/$dlu")), patients, duration),
                _timed("ppa-full", status_ok(op("CarePlan/{}/$generate-cda")), plans, duration),
            ]
            sizes = [len(generate(i)) for i in docs]
        finally:
            ctx.repo.engine.dispose()
    base = scenarios[0].get("per_s") or 0
    for s in scenarios:
        if s.get("per_s") and base:
            s["ratio_to_baseline"] = round(s["per_s"] / base, 4)
    full = next(s for s in scenarios if s["scenario"] == "n1-full")
    return {"suite": "cda", "machine": machine_info(), "duration_s": duration, "warm_up_s": warm_up_s,
            "n1_size_bytes": {"min": min(sizes, default=0), "max": max(sizes, default=0)},
            "scenarios": scenarios,
            "target": {"name": "N1 generation + XSD + schematron", "per_s": TARGET_N1_PER_S,
                       "measured_per_s": full.get("per_s"), "met": (full.get("per_s") or 0) >= TARGET_N1_PER_S}}


def render(result: dict[str, Any]) -> str:
    lines = [f"CDA documents, one process, one thread ({result['duration_s']} s per scenario; schematrons loaded "
             f"in {result['warm_up_s']} s before the clock)", "",
             f"{'scenario':<15}{'docs':>6}{'per s':>9}{'per CPU s':>11}{'p50 ms':>9}{'p95 ms':>9}{'ratio':>9}"]
    for s in result["scenarios"]:
        if "error" in s:
            lines.append(f"{s['scenario']:<15}{s['error']}")
            continue
        lines.append(f"{s['scenario']:<15}{s['documents']:>6}{s['per_s']:>9.1f}{s['cpu_per_s'] or 0:>11.1f}"
                     f"{s['p50_ms']:>9.2f}{s['p95_ms']:>9.2f}{s.get('ratio_to_baseline', 0):>9.4f}")
    t = result["target"]
    lines += ["", f"target: {t['name']} >= {t['per_s']:.0f}/s per core: measured {t['measured_per_s']}/s "
                  f"({'met' if t['met'] else 'NOT met'})"]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    from fhirserver.cli import _settings

    settings = _settings(args)
    kit = getattr(args, "kit_dir", None) or settings.cda.kit_dir
    if not kit:
        raise SystemExit("dui bench --suite cda: pass --kit-dir or set [cda] kit_dir (the ANS test kit)")
    duration = float(getattr(args, "duration", 10.0) or 10.0)
    if not 0 < duration <= 600:
        raise SystemExit("dui bench: --duration must be in (0, 600] s")
    result = run(duration, kit, settings.cda.cache_dir)
    print(render(result))
    if getattr(args, "output", None):
        Path(args.output).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"\nresults written to {args.output}")
    return 0 if all("error" not in s and not s["failures"] for s in result["scenarios"]) else 1
