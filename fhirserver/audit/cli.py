"""``dui audit purge [--dry-run] [--days N]``: delete the AuditEvents older than ``[audit] retention_days``.

Prints how many events were deleted (or would be, with ``--dry-run``) and the cut-off. Meant for a daily cron job
or systemd timer; see :mod:`fhirserver.audit.retention`. Exit status 0, 2 on a configuration error.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from fhirserver.search.values import instant_text


def cmd_purge(args: argparse.Namespace) -> int:
    from fhirserver.audit.retention import purge
    from fhirserver.cli import _context, _settings

    settings = _settings(args)
    days = args.days if args.days is not None else settings.audit.retention_days
    if days < 1:
        print("dui audit purge: --days must be at least 1", file=sys.stderr)
        return 2
    with _context(settings) as ctx:
        result = purge(ctx.repo.engine, days, dry_run=args.dry_run)
    verb = "would be deleted" if result.dry_run else "deleted"
    print(f"{result.events} AuditEvent(s) recorded before {instant_text(result.cutoff)} {verb} "
          f"(retention {days} days)")
    return 0


def register(sub: Any) -> None:
    audit = sub.add_parser("audit", help="the audit trail (AuditEvents): retention")
    commands = audit.add_subparsers(dest="audit_command", required=True)
    purge = commands.add_parser("purge", help="delete the AuditEvents older than [audit] retention_days")
    purge.add_argument("--dry-run", action="store_true", help="only count the events that would be deleted")
    purge.add_argument("--days", type=int, default=None, help="override [audit] retention_days")
    purge.add_argument("--database-url", default=None, help="override [database] url")
    purge.set_defaults(func=cmd_purge)
