"""``dui worker [--once] [--kind dmp|mssante]... [--lease-seconds S] [--deliverer KIND=MODULE:CALLABLE]`` and
``dui outbox [--status S]... [--kind K]... [--limit N]`` (the latest items, one line each: id, kind, status,
attempts, next attempt, document, uniqueId, error — identifiers and codes only, no health data).

Deliverers come from the application context (``ctx.services.deliverers``, kind -> deliverer, registered in
:func:`fhirserver.domain.configure`). ``--deliverer`` replaces one with ``CALLABLE(settings)`` imported from
``MODULE`` (another transport, or a test double). Exit status: 0 after a clean stop (SIGTERM, SIGINT, or ``--once``
with nothing left due), 2 on a configuration error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
from types import FrameType
from typing import Any

from fhirserver.integrations.outbox.types import KINDS, STATUSES, Deliverer


def _load_deliverer(spec: str, settings: Any) -> tuple[str, Deliverer]:
    kind, sep, target = spec.partition("=")
    module_name, sep2, attr = target.partition(":")
    if not sep or not sep2 or kind not in KINDS or not module_name or not attr:
        raise ValueError(f"--deliverer {spec!r}: expected KIND=MODULE:CALLABLE with KIND one of {', '.join(KINDS)}")
    factory = getattr(importlib.import_module(module_name), attr)
    deliverer = factory(settings)
    if not isinstance(deliverer, Deliverer):
        raise ValueError(f"--deliverer {spec!r}: {attr}(settings) did not return a Deliverer")
    return kind, deliverer


def cmd_worker(args: argparse.Namespace) -> int:
    from fhirserver.cli import _context, _settings
    from fhirserver.integrations.outbox.worker import Worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = _settings(args)
    with _context(settings) as ctx:
        deliverers: dict[str, Deliverer] = dict(ctx.services.deliverers)
        try:
            for spec in args.deliverer or []:
                kind, deliverer = _load_deliverer(spec, settings)
                deliverers[kind] = deliverer
            worker = Worker(ctx, deliverers, kinds=args.kind, lease_seconds=args.lease_seconds,
                            poll_seconds=args.poll_seconds)
        except (ValueError, ImportError, AttributeError) as exc:
            print(f"dui worker: {exc}", file=sys.stderr)
            return 2

        def stop(signum: int, _frame: FrameType | None) -> None:
            logging.getLogger("fhirserver.outbox").info("signal %s: stopping after the current item", signum)
            worker.stop.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        stats = worker.run(once=args.once)
        print(f"outbox: {stats.delivered} delivered, {stats.retried} to retry, {stats.failed} failed",
              file=sys.stderr)
    return 0


def cmd_outbox(args: argparse.Namespace) -> int:
    from fhirserver.cli import _context, _settings
    from fhirserver.integrations.outbox.store import listing
    from fhirserver.search.values import instant_text

    with _context(_settings(args)) as ctx, ctx.repo.engine.connect() as conn:
        records = listing(conn, statuses=args.status or (), kinds=args.kind or (), limit=args.limit)
    for r in records:
        due = instant_text(r.next_attempt_at) if r.status == "pending" else "-"
        target = f" to {r.target}" if r.target else ""
        error = f"  [{r.last_error}]" if r.last_error and r.status != "delivered" else ""
        print(f"{r.id}\t{r.kind}\t{r.status}\t{r.attempts}\t{due}\tDocumentReference/{r.document_id}"
              f"\t{r.unique_id}{target}{error}")
    return 0


def register(sub: Any) -> None:
    """Add ``dui worker`` and ``dui outbox`` to the ``dui`` parser's sub-parsers."""
    worker = sub.add_parser("worker", help="deliver the outbox (DMP, MSSanté) with retries and backoff")
    worker.add_argument("--once", action="store_true", help="deliver the items due now, then exit")
    worker.add_argument("--kind", action="append", choices=KINDS,
                        help="only this kind (repeatable; default: every kind with a deliverer)")
    worker.add_argument("--lease-seconds", type=float, default=None,
                        help="how long a claimed item stays reserved (default: max(60, 3 x dmp timeout))")
    worker.add_argument("--poll-seconds", type=float, default=None, help="idle wait (default: [worker] poll_seconds)")
    worker.add_argument("--deliverer", action="append", metavar="KIND=MODULE:CALLABLE",
                        help="use CALLABLE(settings) from MODULE as the deliverer of KIND")
    worker.set_defaults(func=cmd_worker)

    listing = sub.add_parser("outbox", help="list the latest outbox items (delivery requests) and their state")
    listing.add_argument("--status", action="append", choices=STATUSES, help="only this status (repeatable)")
    listing.add_argument("--kind", action="append", choices=KINDS, help="only this kind (repeatable)")
    listing.add_argument("--limit", type=int, default=50, help="at most this many items (default 50)")
    listing.set_defaults(func=cmd_outbox)
