"""``dui invitations``: staff invitations binding a first login to a usager or an aidant.

- ``dui invitations create --fhir-user Patient/X|RelatedPerson/Y [--days 7] [--by NAME]`` prints the invitation URL
  (the token is shown once; only its SHA-256 is stored)
- ``dui invitations list`` (id, FHIR user, status, expiry; never the token)
- ``dui invitations revoke --id ID``

Exit status 0 on success, 2 on invalid input.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from fhirserver.auth.logins.audit import record
from fhirserver.auth.logins.invitations import DEFAULT_DAYS, InvitationError, create, url_for
from fhirserver.auth.logins.store import IdentityStore
from fhirserver.auth.urls import urls_for


def cmd_create(args: argparse.Namespace) -> int:
    from fhirserver.cli import _context, _settings

    settings = _settings(args)
    with _context(settings) as ctx:
        try:
            invitation_id, token = create(ctx, IdentityStore(ctx.repo.engine), args.fhir_user, args.days, args.by)
        except InvitationError as exc:
            record(ctx, "invitation", "failure", detail="invitation refused", username=args.by)
            print(f"error: {exc}", file=sys.stderr)
            return 2
        record(ctx, "invitation", "success", who=args.fhir_user, username=args.by, detail="invitation created")
    base = settings.server.base_url or f"http://{settings.server.host}:{settings.server.port}/fhir"
    print(f"invitation {invitation_id} for {args.fhir_user}, valid {args.days} days:")
    print(url_for(urls_for(settings, base).issuer, token))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from fhirserver.cli import _context, _settings

    with _context(_settings(args)) as ctx:
        items = IdentityStore(ctx.repo.engine).invitations()
    for item in items:
        print(f"{item.id}\t{item.fhir_user}\t{item.status}\texpires {item.expires_at:%Y-%m-%d %H:%M} UTC"
              f"\tby {item.created_by or '-'}")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from fhirserver.cli import _context, _settings

    with _context(_settings(args)) as ctx:
        done = IdentityStore(ctx.repo.engine).revoke_invitation(args.id)
        if done:
            record(ctx, "invitation", "success", detail="invitation revoked")
    if not done:
        print(f"error: no active invitation with id {args.id!r}", file=sys.stderr)
        return 2
    print(f"invitation {args.id} revoked")
    return 0


def register(sub: Any) -> None:
    """Add ``dui invitations`` to the ``dui`` parser's sub-parsers."""
    invitations = sub.add_parser("invitations", help="invitations binding a first login to a usager or aidant")
    inv_sub = invitations.add_subparsers(dest="invitations_command", required=True)
    add = inv_sub.add_parser("create", help="create an invitation; prints its URL")
    add.add_argument("--fhir-user", required=True, help="Patient/ID or RelatedPerson/ID")
    add.add_argument("--days", type=int, default=DEFAULT_DAYS, help=f"validity in days (default {DEFAULT_DAYS})")
    add.add_argument("--by", help="who creates it (staff name, kept with the invitation and in the audit trail)")
    add.set_defaults(func=cmd_create)
    show = inv_sub.add_parser("list", help="list invitations (never their token)")
    show.set_defaults(func=cmd_list)
    revoke = inv_sub.add_parser("revoke", help="revoke an unused invitation")
    revoke.add_argument("--id", required=True)
    revoke.set_defaults(func=cmd_revoke)
