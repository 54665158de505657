"""The load generator of ``dui bench``: processes x threads, one keep-alive ``http.client`` connection each.

The same client drives the FHIR server and the baseline app, so their ratio compares servers, not clients.
Two modes:

- :func:`run_timed`: every thread sends requests drawn (seeded) from a scenario's pool, back to back, for a
  fixed duration; the figures are completed requests per second and latency percentiles.
- :func:`run_ingest`: a fixed amount of work (the transaction Bundles of the data set) shared among a few
  concurrent clients, bounded by a deadline; each process builds its Bundles before the clock starts.

Traffic goes to 127.0.0.1 only; every loop is bounded by a deadline (and ingest also by its Bundle count).
Processes are forked so the client's CPU spreads over the cores like a real concurrent client would.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import multiprocessing as mp
import os
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

HOST = "127.0.0.1"
CONNECT_TIMEOUT = 60.0  # seconds per request on a socket; a stuck request counts as an error
WARMUP_REQUESTS = 3  # untimed requests per connection before the clock starts


@dataclass
class Scenario:
    """A pool of requests to send: ``paths`` (and ``bodies`` for writes) are drawn at random, seeded."""

    name: str
    method: str
    paths: list[str]
    bodies: list[bytes] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Result:
    """Figures of one scenario: throughput, latency percentiles (ms), failures and CPU context."""

    name: str
    requests: int
    errors: int
    elapsed_s: float
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    statuses: dict[str, int]
    client_cores: float  # CPU used by the load generator, in cores (0-2 on this machine)
    machine_busy: float  # share of all cores busy during the scenario (server, client, database, others)
    first_error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return asdict(self)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def _cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine from /proc/stat (zeros where it is missing)."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [float(x) for x in f.readline().split()[1:]]
    except OSError:
        return 0.0, 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    total = sum(fields[:8])
    return total - idle, total


def _cores(before: dict[str, float], after: dict[str, float], wall: float) -> dict[str, Any]:
    return {f"{k}_cores": max(0.0, after[k] - before[k]) / max(wall, 1e-9) for k in after if k in before}


def _busy_share(before: tuple[float, float], after: tuple[float, float]) -> float:
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total > 0 else 0.0


class _Client:
    """One keep-alive connection to 127.0.0.1:port that reconnects after a failure."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def send(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=CONNECT_TIMEOUT)
        try:
            self.conn.request(method, path, body=body, headers=headers)
            resp = self.conn.getresponse()
            data = resp.read()
            if resp.will_close:
                self.close()
            return resp.status, data
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _headers(method: str, extra: dict[str, str]) -> dict[str, str]:
    headers = {"Accept": "application/fhir+json", "Connection": "keep-alive"}
    if method in ("POST", "PUT"):
        headers["Content-Type"] = "application/fhir+json"
    headers.update(extra)
    return headers


def _wait_ready(ready: Any, procs: list[Any], timeout: float) -> None:
    """Wait until every client process is connected and warmed up (or fail, ending them)."""
    try:
        ready.wait(timeout=timeout)
    except threading.BrokenBarrierError as exc:
        _end(procs)
        raise RuntimeError("a load generator process did not get ready (crashed or too slow)") from exc


def _collect(out: Any, procs: list[Any], timeout: float) -> list[dict[str, Any]]:
    """One result per client process, or a RuntimeError if one of them died or hung."""
    parts: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(parts) < len(procs):
        try:
            parts.append(out.get(timeout=1.0))
        except queue.Empty:
            if time.monotonic() > deadline or any(p.exitcode not in (None, 0) for p in procs):
                _end(procs)
                raise RuntimeError("a load generator process died or hung") from None
    return parts


def _end(procs: list[Any]) -> None:
    for p in procs:
        if p.is_alive():
            p.terminate()  # our own child, by its handle
        p.join(timeout=10)


# --- timed scenarios ------------------------------------------------------------------------------

def _timed_process(port: int, scenario: Scenario, threads: int, duration: float, seed: int, proc: int,
                   ready: Any, go: Any, start_at: Any, out: Any) -> None:
    """One client process: ``threads`` connections hammering the scenario until the shared deadline."""
    headers = _headers(scenario.method, scenario.headers)
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors = [0]
    first_error: list[str] = []
    last_end = [0.0]
    warmed = threading.Barrier(threads + 1)
    started = threading.Event()

    def worker(t: int) -> None:
        rng = random.Random(seed * 10_007 + proc * 101 + t)
        client = _Client(port)
        local_lat: list[float] = []
        local_status: dict[str, int] = {}
        local_errors = 0

        def pick() -> tuple[str, bytes | None]:
            path = scenario.paths[rng.randrange(len(scenario.paths))]
            body = scenario.bodies[rng.randrange(len(scenario.bodies))] if scenario.bodies else None
            return path, body

        for _ in range(WARMUP_REQUESTS):
            with contextlib.suppress(OSError, http.client.HTTPException):
                client.send(scenario.method, *pick(), headers)
        warmed.wait()
        started.wait()
        begin, end = start_at.value, start_at.value + duration
        while time.monotonic() < begin:
            time.sleep(0.001)
        finished = begin
        while True:
            now = time.monotonic()
            if now >= end:
                break
            path, body = pick()
            t0 = time.perf_counter()
            try:
                status, data = client.send(scenario.method, path, body, headers)
            except (OSError, http.client.HTTPException) as exc:
                local_errors += 1
                if not first_error:
                    first_error.append(f"{scenario.method} {path}: {type(exc).__name__}: {exc}")
                finished = time.monotonic()
                continue
            local_lat.append(time.perf_counter() - t0)
            finished = time.monotonic()
            key = str(status)
            local_status[key] = local_status.get(key, 0) + 1
            if status >= 400:
                local_errors += 1
                if not first_error:
                    first_error.append(f"{scenario.method} {path}: HTTP {status} {data[:300]!r}")
        client.close()
        with lock:
            latencies.extend(local_lat)
            for k, v in local_status.items():
                statuses[k] = statuses.get(k, 0) + v
            errors[0] += local_errors
            last_end[0] = max(last_end[0], finished)

    pool = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(threads)]
    for th in pool:
        th.start()
    warmed.wait()
    ready.wait()
    go.wait()
    cpu0 = os.times()
    started.set()
    for th in pool:
        th.join()
    cpu1 = os.times()
    out.put({"latencies": latencies, "statuses": statuses, "errors": errors[0], "last_end": last_end[0],
             "first_error": first_error[0] if first_error else None,
             "cpu": (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)})


@dataclass
class _WorkerRun:
    parts: list[dict[str, Any]]  # what each worker process reported
    start_at: float  # the common start instant (time.monotonic) of every worker
    machine_busy: float
    cores: dict[str, float]


def _run_workers(target: Callable[..., None], worker_args: list[tuple[Any, ...]], *, ready_timeout: float,
                 collect_timeout: float, probe: Callable[[], dict[str, float]] | None) -> _WorkerRun:
    """Fork one process per ``worker_args`` (each gets ``ready, go, start_at, out`` appended), start them all at
    one instant, collect what they report, and measure the machine's and the probe's CPU meanwhile."""
    ctx = mp.get_context("fork")
    ready = ctx.Barrier(len(worker_args) + 1)
    go = ctx.Event()
    start_at = ctx.Value("d", 0.0)
    out: Any = ctx.Queue()
    procs = [ctx.Process(target=target, daemon=True, args=(*args, ready, go, start_at, out)) for args in worker_args]
    for p in procs:
        p.start()
    _wait_ready(ready, procs, ready_timeout)
    start_at.value = time.monotonic() + 0.2
    go.set()
    time.sleep(0.2)
    busy0, cpu0, w0 = _cpu_times(), probe() if probe else {}, time.monotonic()
    parts = _collect(out, procs, collect_timeout)
    busy1, cpu1, w1 = _cpu_times(), probe() if probe else {}, time.monotonic()
    for p in procs:
        p.join(timeout=30)
    return _WorkerRun(parts, float(start_at.value), _busy_share(busy0, busy1), _cores(cpu0, cpu1, w1 - w0))


def run_timed(port: int, scenario: Scenario, *, duration: float, processes: int, threads: int,
              seed: int = 1, probe: Callable[[], dict[str, float]] | None = None) -> Result:
    """Drive ``scenario`` against 127.0.0.1:``port`` for ``duration`` seconds with processes x threads clients.

    ``probe`` (optional) returns cumulative CPU seconds by name (``{"server": s, "db": s}``); the deltas are
    reported in ``extra`` as ``<name>_cores``.
    """
    run = _run_workers(_timed_process, [(port, scenario, threads, duration, seed, p) for p in range(processes)],
                       ready_timeout=120, collect_timeout=duration + CONNECT_TIMEOUT + 60, probe=probe)
    parts, start_at = run.parts, run.start_at
    latencies = sorted(x for part in parts for x in part["latencies"])
    statuses: dict[str, int] = {}
    for part in parts:
        for k, v in part["statuses"].items():
            statuses[k] = statuses.get(k, 0) + v
    errors = sum(int(part["errors"]) for part in parts)
    elapsed = max(max(float(part["last_end"]) for part in parts) - start_at, 1e-9)
    ok = sum(v for k, v in statuses.items() if int(k) < 400)
    first = next((part["first_error"] for part in parts if part["first_error"]), None)
    return Result(name=scenario.name, requests=ok + errors, errors=errors, elapsed_s=round(elapsed, 3),
                  rps=ok / elapsed, p50_ms=percentile(latencies, 0.50) * 1000,
                  p95_ms=percentile(latencies, 0.95) * 1000, p99_ms=percentile(latencies, 0.99) * 1000,
                  statuses=statuses, client_cores=sum(float(part["cpu"]) for part in parts) / elapsed,
                  machine_busy=run.machine_busy, first_error=first, extra=run.cores)


# --- ingest ---------------------------------------------------------------------------------------

def _patient_ids(data: bytes, patients: int) -> list[str | None]:
    """The server-assigned ids of the first ``patients`` entries of a transaction-response (request order)."""
    ids: list[str | None] = []
    try:
        entries = json.loads(data).get("entry") or []
    except ValueError:
        entries = []
    for entry in entries[:patients]:
        # relative (Patient/<id>/_history/1) or absolute (http://host/fhir/Patient/<id>/_history/1)
        parts = str((entry.get("response") or {}).get("location") or "").split("/")
        at = len(parts) - 1 - parts[::-1].index("Patient") if "Patient" in parts else -1
        ids.append(parts[at + 1] if 0 <= at < len(parts) - 1 else None)
    while len(ids) < patients:
        ids.append(None)
    return ids


def _ingest_process(port: int, indices: list[int], make: Callable[[int], bytes], threads: int,
                    patients_per_bundle: int, deadline_s: float, ready: Any, go: Any, start_at: Any,
                    out: Any) -> None:
    """Build this process's Bundles, then post them over ``threads`` connections until done or deadline."""
    work: queue.Queue[tuple[int, bytes]] = queue.Queue()
    for b in indices:
        work.put((b, make(b)))
    headers = _headers("POST", {"Prefer": "return=minimal"})
    lock = threading.Lock()
    latencies: list[float] = []
    ids: dict[int, list[str | None]] = {}
    statuses: dict[str, int] = {}
    first_error: list[str] = []
    done = {"ok": 0, "failed": 0, "last_end": 0.0}
    started = threading.Event()

    def worker() -> None:
        client = _Client(port)
        started.wait()
        begin = start_at.value
        while time.monotonic() < begin:
            time.sleep(0.001)
        while time.monotonic() < begin + deadline_s:
            try:
                b, body = work.get_nowait()
            except queue.Empty:
                break
            t0 = time.perf_counter()
            try:
                status, data = client.send("POST", "/fhir/", body, headers)
            except (OSError, http.client.HTTPException) as exc:
                status, data = 0, f"{type(exc).__name__}: {exc}".encode()
            elapsed = time.perf_counter() - t0
            with lock:
                key = str(status)
                statuses[key] = statuses.get(key, 0) + 1
                done["last_end"] = max(done["last_end"], time.monotonic())
                if status == 200:
                    latencies.append(elapsed)
                    done["ok"] += 1
                    ids[b] = _patient_ids(data, patients_per_bundle)
                else:
                    done["failed"] += 1
                    if not first_error:
                        first_error.append(f"bundle {b}: HTTP {status} {data[:500]!r}")
        client.close()

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for th in pool:
        th.start()
    ready.wait()
    go.wait()
    cpu0 = os.times()
    started.set()
    for th in pool:
        th.join()
    cpu1 = os.times()
    out.put({"latencies": latencies, "ids": ids, "statuses": statuses, "ok": done["ok"], "failed": done["failed"],
             "last_end": done["last_end"], "first_error": first_error[0] if first_error else None,
             "left": work.qsize(), "cpu": (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)})


def run_ingest(port: int, bundles: int, make: Callable[[int], bytes], *, clients: int, processes: int,
               patients_per_bundle: int, resources_per_bundle: int, deadline_s: float,
               probe: Callable[[], dict[str, float]] | None = None) -> tuple[Result, dict[int, list[str | None]]]:
    """Post ``bundles`` transaction Bundles (``make(b)`` builds number b) with ``clients`` concurrent clients.

    Returns the figures (``rps`` in resources/s) and, per Bundle, the ids the server gave its Patients.
    """
    processes = max(1, min(processes, clients, bundles))
    per_proc = [clients // processes + (1 if p < clients % processes else 0) for p in range(processes)]
    run = _run_workers(
        _ingest_process,
        [(port, list(range(p, bundles, processes)), make, per_proc[p], patients_per_bundle, deadline_s)
         for p in range(processes)],
        ready_timeout=600,  # building 1,000 Bundles takes a few seconds per process
        collect_timeout=deadline_s + CONNECT_TIMEOUT + 120, probe=probe)
    parts, start_at = run.parts, run.start_at
    latencies = sorted(x for part in parts for x in part["latencies"])
    ids: dict[int, list[str | None]] = {}
    statuses: dict[str, int] = {}
    for part in parts:
        ids.update(part["ids"])
        for k, v in part["statuses"].items():
            statuses[k] = statuses.get(k, 0) + v
    ok = sum(int(part["ok"]) for part in parts)
    failed = sum(int(part["failed"]) for part in parts)
    left = sum(int(part["left"]) for part in parts)
    elapsed = max(max(float(part["last_end"]) for part in parts) - start_at, 1e-9)
    first = next((part["first_error"] for part in parts if part["first_error"]), None)
    result = Result(name="transaction ingest", requests=ok + failed, errors=failed + left, elapsed_s=round(elapsed, 3),
                    rps=ok * resources_per_bundle / elapsed, p50_ms=percentile(latencies, 0.50) * 1000,
                    p95_ms=percentile(latencies, 0.95) * 1000, p99_ms=percentile(latencies, 0.99) * 1000,
                    statuses=statuses, client_cores=sum(float(part["cpu"]) for part in parts) / elapsed,
                    machine_busy=run.machine_busy, first_error=first,
                    extra={"bundles_ok": ok, "bundles_failed": failed, "bundles_not_sent": left,
                           "resources_loaded": ok * resources_per_bundle, "clients": clients})
    result.extra.update(run.cores)
    return result, ids
