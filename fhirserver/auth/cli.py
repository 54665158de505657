"""Sub-commands of ``dui`` for authorization (added by :func:`register`):

- ``dui clients add --client-id ID [--secret S | --jwks FILE | --jwks-url URL | --public] [--redirect-uri URI]...
  --scope "..." [--grant-type authorization_code|client_credentials]... [--name NAME]``
- ``dui users add --username NAME --password PASS --fhir-user Patient/ID|RelatedPerson/ID|Practitioner/ID``
- ``dui users link --username NAME --patient ID``: an extra Patient record of a usager account (Patient user); it
  grants nothing to aidants or professionals (their reach: delegations, structures, care teams)
- ``dui delegations add --patient ID --related-person ID --end DATE [--start DATE] [--collect] [--deny-type T]...
  [--performer REF] [--id ID]``, ``dui delegations list [--patient ID] [--related-person ID]``,
  ``dui delegations revoke --id ID``: aidant delegation Consents (:mod:`fhirserver.auth.delegation`), written
  through the FHIR interactions so that their validation runs
- ``dui launch --patient ID [--encounter ID] [--minutes N]`` prints an EHR launch context id (the ``launch``
  parameter the portal passes to an app's launch URL with ``iss``)

Exit status 0 on success, 2 on invalid input (a message on stderr says which option).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from fhirserver.auth import scopes
from fhirserver.auth.models import GRANT_TYPES, Client
from fhirserver.auth.store import AuthStore
from fhirserver.errors import FhirError

FHIR_USER = re.compile(r"^(Patient|RelatedPerson|Practitioner|PractitionerRole|Person)/[A-Za-z0-9\-.]{1,64}$")
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


class CliError(ValueError):
    pass


def build_client(args: argparse.Namespace) -> tuple[Client, str | None]:
    """The client an ``dui clients add`` command describes (and its secret), or :class:`CliError`."""
    kinds = [k for k in ("secret", "jwks", "jwks_url") if getattr(args, k)] + (["public"] if args.public else [])
    if len(kinds) != 1:
        raise CliError("give exactly one of --secret, --jwks, --jwks-url, --public")
    try:
        scopes.validate(args.scope)
    except scopes.ScopeError as exc:
        raise CliError(f"--scope: {exc}") from exc
    if not scopes.split(args.scope):
        raise CliError("--scope: at least one scope is needed")
    grant_types = list(dict.fromkeys(args.grant_type or ["authorization_code"]))
    for uri in args.redirect_uri or []:
        if not re.match(r"^https?://[^\s#]+$", uri):
            raise CliError(f"--redirect-uri {uri!r}: an absolute http(s) URL without fragment is needed")
    if "authorization_code" in grant_types and not args.redirect_uri:
        raise CliError("--redirect-uri is required for grant type authorization_code")
    jwks: dict[str, Any] | None = None
    if args.jwks:
        try:
            jwks = json.loads(Path(args.jwks).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CliError(f"--jwks {args.jwks}: not a readable JSON file ({exc})") from exc
        if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
            raise CliError("--jwks: a JWKS document {\"keys\": [...]} with at least one key is needed")
        if any(not isinstance(k, dict) or not k.get("kid") or "d" in k for k in jwks["keys"]):
            raise CliError("--jwks: every key needs a kid, and only public keys may be registered")
    if args.jwks_url and not re.match(r"^https?://\S+$", args.jwks_url):
        raise CliError("--jwks-url: an absolute http(s) URL is needed")
    if "client_credentials" in grant_types and not (jwks or args.jwks_url):
        raise CliError("client_credentials (Backend Services) clients authenticate with a key: give --jwks or "
                       "--jwks-url")
    method = "none" if args.public else "client_secret_basic" if args.secret else "private_key_jwt"
    client = Client(client_id=args.client_id, auth_method=method, redirect_uris=list(args.redirect_uri or []),
                    grant_types=grant_types, scope=" ".join(scopes.split(args.scope)), name=args.name,
                    jwks=jwks, jwks_url=args.jwks_url)
    return client, args.secret


def _with_store(args: argparse.Namespace, action: Callable[[AuthStore], object], conflict: str) -> int:
    """Run ``action`` on the store of the configured database; a duplicate or an unknown name is exit status 2."""
    from sqlalchemy.exc import IntegrityError

    from fhirserver.cli import _context, _settings

    with _context(_settings(args)) as ctx:
        try:
            action(AuthStore(ctx.repo.engine))
        except IntegrityError:
            print(f"error: {conflict} already exists", file=sys.stderr)
            return 2
        except KeyError as exc:
            print(f"error: no user named {exc.args[0]!r}", file=sys.stderr)
            return 2
    return 0


def cmd_clients_add(args: argparse.Namespace) -> int:
    try:
        client, secret = build_client(args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    status = _with_store(args, lambda store: store.add_client(client, secret),
                         f"a client with id {client.client_id!r}")
    if status == 0:
        print(f"client {client.client_id} registered ({client.auth_method}; {', '.join(client.grant_types)})")
    return status


def cmd_users_add(args: argparse.Namespace) -> int:
    if not FHIR_USER.match(args.fhir_user):
        print("error: --fhir-user must be Patient/ID, RelatedPerson/ID, Practitioner/ID, PractitionerRole/ID or "
              "Person/ID", file=sys.stderr)
        return 2
    if len(args.password) < 12:
        print("error: --password must have at least 12 characters", file=sys.stderr)
        return 2
    status = _with_store(args, lambda store: store.add_user(args.username, args.password, args.fhir_user),
                         f"a user named {args.username!r}")
    if status == 0:
        print(f"user {args.username} added ({args.fhir_user})")
    return status


def cmd_users_link(args: argparse.Namespace) -> int:
    if not FHIR_ID.match(args.patient):
        print("error: --patient must be a Patient id", file=sys.stderr)
        return 2
    status = _with_store(args, lambda store: store.link_patient(args.username, args.patient), "this link")
    if status == 0:
        print(f"user {args.username} may now act for Patient/{args.patient}")
    return status


def cmd_launch(args: argparse.Namespace) -> int:
    for name in ("patient", "encounter"):
        value = getattr(args, name)
        if value is not None and not FHIR_ID.match(value):
            print(f"error: --{name} must be a FHIR id", file=sys.stderr)
            return 2
    if args.minutes < 1 or args.minutes > 24 * 60:
        print("error: --minutes must be between 1 and 1440", file=sys.stderr)
        return 2
    created: list[str] = []
    status = _with_store(args, lambda store: created.append(
        store.create_launch(args.patient, args.encounter, timedelta(minutes=args.minutes))), "this launch")
    if status == 0:
        print(created[0])
    return status


def _fhir(args: argparse.Namespace, method: str, path: str, body: Any = None,
          params: list[tuple[str, str]] | None = None,
          audit: tuple[str | None, str] | None = None) -> dict[str, Any]:
    """Run one FHIR interaction through the in-process client as the system principal ``dui delegations`` (the
    router audits it as such); the resource answered, or the :mod:`fhirserver.errors` category raised. ``audit``
    (patient id, what was done): a delegation change made from the command line, also recorded as a delegation
    event of the usager."""
    from fhirserver.cli import _context, _settings
    from fhirserver.interactions.client import Fhir, system_principal

    with _context(_settings(args)) as ctx:
        trail = ctx.services.audit

        def record(outcome: str, entity: str | None) -> None:
            if audit is not None and trail is not None:
                trail.record_event(kind="delegation", outcome=outcome,
                                   patient=f"Patient/{audit[0]}" if audit[0] else None, entity=entity,
                                   detail=f"{audit[1]} (dui delegations)")

        try:
            resp = Fhir(ctx, system_principal("dui delegations")).send(method, path, body=body, params=params or [])
        except FhirError:
            record("failure", None)
            raise
        resource = resp.resource if isinstance(resp.resource, dict) else {}
        record("success", f"Consent/{resource['id']}" if resource.get("id") else None)
        return resource


def _failed(error: FhirError) -> int:
    first = error.issues[0].diagnostics if error.issues else ""
    print(f"error: {first or f'status {error.status}'}", file=sys.stderr)
    return 2


def cmd_delegations_add(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from fhirserver.auth.delegation import build_consent

    for name in ("patient", "related_person"):
        if not FHIR_ID.match(getattr(args, name)):
            print(f"error: --{name.replace('_', '-')} must be a FHIR id", file=sys.stderr)
            return 2
    start = args.start or datetime.now(UTC).isoformat(timespec="seconds")
    body = build_consent(args.patient, args.related_person, start, args.end, collect=args.collect,
                         deny_types=tuple(args.deny_type or ()), performer=args.performer, consent_id=args.id)
    audit = (args.patient, "delegation granted")
    try:
        stored = _fhir(args, "PUT", f"Consent/{args.id}", body, audit=audit) if args.id else \
            _fhir(args, "POST", "Consent", body, audit=audit)
    except FhirError as exc:
        return _failed(exc)
    print(f"Consent/{stored['id']}: RelatedPerson/{args.related_person} may act for Patient/{args.patient}"
          f" until {args.end}")
    return 0


def cmd_delegations_list(args: argparse.Namespace) -> int:
    from fhirserver.auth.delegation import CATEGORY_CODE, CATEGORY_SYSTEM, active_delegation, actors

    params = [("category", f"{CATEGORY_SYSTEM}|{CATEGORY_CODE}"), ("_count", "1000")]
    if args.patient:
        params.append(("patient", f"Patient/{args.patient}"))
    if args.related_person:
        params.append(("actor", f"RelatedPerson/{args.related_person}"))
    try:
        bundle = _fhir(args, "GET", "Consent", params=params)
    except FhirError as exc:
        return _failed(exc)
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    for entry in bundle.get("entry") or []:
        c = entry.get("resource") or {}
        if c.get("resourceType") != "Consent":
            continue
        period = (c.get("provision") or {}).get("period") or {}
        state = "en cours" if active_delegation(c, now) else "sans effet"
        print(f"Consent/{c.get('id')}\t{(c.get('patient') or {}).get('reference')}\t"
              f"{','.join('RelatedPerson/' + a for a in actors(c))}\t{c.get('status')}\t"
              f"{period.get('start')}..{period.get('end')}\t{state}")
    return 0


def cmd_delegations_revoke(args: argparse.Namespace) -> int:
    if not FHIR_ID.match(args.id):
        print("error: --id must be a Consent id", file=sys.stderr)
        return 2
    try:
        current = _fhir(args, "GET", f"Consent/{args.id}")
        patient = str((current.get("patient") or {}).get("reference", "")).removeprefix("Patient/") or None
        _fhir(args, "PUT", f"Consent/{args.id}", {**current, "status": "inactive"},
              audit=(patient, "delegation revoked"))
    except FhirError as exc:
        return _failed(exc)
    print(f"Consent/{args.id} revoked (status inactive)")
    return 0


def _register_delegations(sub: Any) -> None:
    delegations = sub.add_parser("delegations", help="aidant delegations (Consent)")
    dsub = delegations.add_subparsers(dest="delegations_command", required=True)
    dadd = dsub.add_parser("add", help="let an aidant (RelatedPerson) act for a usager until a date")
    dadd.add_argument("--patient", required=True)
    dadd.add_argument("--related-person", required=True)
    dadd.add_argument("--end", required=True, help="last day (FHIR date or dateTime)")
    dadd.add_argument("--start", help="first day (default: now)")
    dadd.add_argument("--collect", action="store_true", help="the aidant may also add data (create only)")
    dadd.add_argument("--deny-type", action="append", help="a resource type left out (repeatable)")
    dadd.add_argument("--performer", help="who grants it (default: the usager, Patient/ID)")
    dadd.add_argument("--id", help="the Consent id (default: assigned by the server)")
    dadd.set_defaults(func=cmd_delegations_add)
    dlist = dsub.add_parser("list", help="list delegations")
    dlist.add_argument("--patient")
    dlist.add_argument("--related-person")
    dlist.set_defaults(func=cmd_delegations_list)
    drevoke = dsub.add_parser("revoke", help="revoke a delegation (status inactive)")
    drevoke.add_argument("--id", required=True)
    drevoke.set_defaults(func=cmd_delegations_revoke)


def register(sub: Any) -> None:
    """Add this package's sub-commands to the ``dui`` parser's sub-parsers."""
    clients = sub.add_parser("clients", help="OAuth clients (SMART apps, Backend Services)")
    clients_sub = clients.add_subparsers(dest="clients_command", required=True)
    add = clients_sub.add_parser("add", help="register a client")
    add.add_argument("--client-id", required=True)
    add.add_argument("--name")
    kind = add.add_mutually_exclusive_group()
    kind.add_argument("--secret", help="confidential client (client_secret_basic); stored as an argon2id hash")
    kind.add_argument("--jwks", help="file with the client's public JWKS (private_key_jwt)")
    kind.add_argument("--jwks-url", help="URL of the client's public JWKS (private_key_jwt)")
    kind.add_argument("--public", action="store_true", help="public client (PKCE only)")
    add.add_argument("--redirect-uri", action="append", help="an exact redirect URI (repeatable)")
    add.add_argument("--scope", required=True, help="the scopes the client may be granted, space-separated")
    add.add_argument("--grant-type", action="append", choices=GRANT_TYPES)
    add.set_defaults(func=cmd_clients_add)

    users = sub.add_parser("users", help="local accounts")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    uadd = users_sub.add_parser("add", help="add a local account (argon2id)")
    uadd.add_argument("--username", required=True)
    uadd.add_argument("--password", required=True)
    uadd.add_argument("--fhir-user", required=True, help="Patient/ID, RelatedPerson/ID or Practitioner/ID")
    uadd.set_defaults(func=cmd_users_add)
    link = users_sub.add_parser("link", help="an extra Patient record of a usager account (grants aidants and "
                                "professionals nothing: see dui delegations)")
    link.add_argument("--username", required=True)
    link.add_argument("--patient", required=True, help="the Patient id")
    link.set_defaults(func=cmd_users_link)

    _register_delegations(sub)

    launch = sub.add_parser("launch", help="create an EHR launch context; prints the launch id")
    launch.add_argument("--patient")
    launch.add_argument("--encounter")
    launch.add_argument("--minutes", type=int, default=60, help="lifetime of the launch context (default 60)")
    launch.set_defaults(func=cmd_launch)
