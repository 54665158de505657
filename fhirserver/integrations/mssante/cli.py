"""``dui mss ingest [--once]`` and ``dui mss send --document-reference ID --to ADDRESS|patient``.

* ``ingest`` polls the inbox (``[mssante] inbox``: the Maildir ``[mssante] maildir`` or IMAP) every
  ``[worker] poll_seconds``; ``--once`` processes what is there and exits: 0 when every message was filed (stored,
  duplicate or rejected with an error notification), 1 when some had to be left for later or set aside.
* ``send`` queues one document in the outbox through ``DocumentReference/{id}/$send-mssante`` (the CDA validated
  by the ANS kit, a qualified identity; see :mod:`fhirserver.interactions.operations.dmp`); ``dui worker`` then
  builds the message (IHE_XDM.ZIP + PDF) and submits it over SMTP. ``--to patient`` sends to the usager's
  Mon espace santé mailbox ``<INS>@patient.mssante.fr`` (qualified identity only).
  Exit status 0 when queued (or already queued), 1 when refused.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

from fhirserver.errors import FhirError

if TYPE_CHECKING:  # imported when a command runs
    from fhirserver.interactions.client import Fhir


def _service(ctx: Any) -> Any:
    from fhirserver.integrations.mssante.service import MssanteService

    service = ctx.services.mssante
    return service if service is not None else MssanteService(ctx.settings)


def _summary(stats: Any) -> str:
    return (f"mssante: {stats.stored} stored, {stats.duplicates} duplicate(s), {stats.rejected} rejected, "
            f"{stats.retried} left for later, {stats.errors} set aside")


def cmd_ingest(args: argparse.Namespace) -> int:
    """Poll the inbox (opened afresh for every poll: an IMAP session does not outlive its idle timeout) until
    SIGTERM / SIGINT, or once with ``--once``."""
    import imaplib

    from fhirserver.cli import _context, _settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("fhirserver.integrations.mssante")
    settings = _settings(args)
    stop = threading.Event()
    if not args.once:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, frame: stop.set())
    with _context(settings) as ctx:
        service = _service(ctx)
        while not stop.is_set():
            try:
                inbox = service.open_inbox()
            except (OSError, imaplib.IMAP4.error) as exc:
                if args.once:
                    print(f"dui mss ingest: the inbox cannot be opened ({type(exc).__name__})", file=sys.stderr)
                    return 2
                log.warning("mssante ingest: inbox unavailable (%s), retrying", type(exc).__name__)
                stop.wait(settings.worker.poll_seconds)
                continue
            except ValueError as exc:
                print(f"dui mss ingest: {exc}", file=sys.stderr)
                return 2
            try:
                stats = service.ingest(ctx, inbox)
            except ValueError as exc:
                print(f"dui mss ingest: {exc}", file=sys.stderr)
                return 2
            finally:
                inbox.close()
            if args.once:
                print(_summary(stats), file=sys.stderr)
                return 0 if stats.ok else 1
            if stats.results or stats.retried or stats.errors:
                log.info("%s", _summary(stats))
            stop.wait(settings.worker.poll_seconds)
    return 0


# --- send ------------------------------------------------------------------------------------------------------

def _client(ctx: Any) -> Fhir:
    """The in-process FHIR client of ``dui mss send``, as the system principal of that name (audited as such)."""
    from fhirserver.interactions.client import Fhir, system_principal

    return Fhir(ctx, system_principal("dui mss send"))


def _describe(error: FhirError) -> str:
    return "; ".join(i.diagnostics for i in error.issues)[:500] or f"HTTP {error.status}"


def _recipient(fhir: Fhir, document: dict[str, Any], to: str) -> str:
    from fhirserver.integrations.mssante.message import patient_mailbox

    if to != "patient":
        return to
    ref = str((document.get("subject") or {}).get("reference") or "")
    refused = FhirError("the DocumentReference has no readable subject Patient", status=422)
    if not ref.startswith("Patient/"):
        raise refused
    try:
        patient = fhir.read("Patient", ref.removeprefix("Patient/"))
    except FhirError as exc:
        raise refused from exc
    return patient_mailbox(patient)


def _answer(answer: Any) -> str:
    """``status`` and ``queued`` of a ``$send-mssante`` Parameters answer."""
    parameters = answer.get("parameter", []) if isinstance(answer, dict) else []
    values = {p.get("name"): next((v for k, v in p.items() if k.startswith("value")), None)
              for p in parameters if isinstance(p, dict)}
    return f"status {values.get('status')}" + (" (queued now)" if values.get("queued") else " (already queued)")


def cmd_send(args: argparse.Namespace) -> int:
    from fhirserver.cli import _context, _settings

    settings = _settings(args)
    with _context(settings) as ctx:
        fhir = _client(ctx)
        try:
            document = fhir.read("DocumentReference", args.document_reference)
        except FhirError as exc:
            print(f"dui mss send: DocumentReference/{args.document_reference}: {_describe(exc)}", file=sys.stderr)
            return 1
        try:
            to = _recipient(fhir, document, args.to)
        except FhirError as exc:
            print(f"dui mss send: {exc.message}", file=sys.stderr)
            return 1
        body = {"resourceType": "Parameters", "parameter": [{"name": "recipient", "valueString": to}]}
        try:
            answer = fhir.operation(f"DocumentReference/{args.document_reference}/$send-mssante", body)
        except FhirError as exc:
            print(f"dui mss send: refused: {_describe(exc)}", file=sys.stderr)
            return 1
        print(f"queued in the outbox for {to}, delivered by `dui worker`: {_answer(answer)}")
        return 0


def register(sub: Any) -> None:
    """Add ``dui mss ingest`` and ``dui mss send`` to the ``dui`` parser's sub-parsers."""
    mss = sub.add_parser("mss", help="MSSanté: receive (ingest the inbox) and send documents")
    mss_sub = mss.add_subparsers(dest="mss_command", required=True)
    ingest = mss_sub.add_parser("ingest", help="integrate the documents received in the MSSanté inbox")
    ingest.add_argument("--once", action="store_true", help="process the waiting messages, then exit (0/1)")
    ingest.set_defaults(func=cmd_ingest)
    send = mss_sub.add_parser("send", help="send a document (IHE XDM + PDF) to an MSSanté mailbox")
    send.add_argument("--document-reference", required=True, metavar="ID")
    send.add_argument("--to", required=True, metavar="ADDRESS",
                      help="recipient MSSanté address, or 'patient' for the usager's Mon espace santé mailbox")
    send.set_defaults(func=cmd_send)
