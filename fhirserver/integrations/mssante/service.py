"""The MSSanté service the application registers (``ctx.services.mssante``): composing a document's message,
sending it, and ingesting the inbox. Built from the settings without opening any connection.

Sending goes through the outbox (``ctx.services.deliverers["mssante"]``, :class:`MssanteDeliverer`); the
inbox is polled by ``dui mss ingest``.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from fhirserver.integrations.mssante.inbox import ImapInbox, Inbox, MaildirInbox
from fhirserver.integrations.mssante.ingest import IngestResult, ingest_message
from fhirserver.integrations.mssante.message import Outgoing, SubjectIdentity, build_message
from fhirserver.integrations.mssante.smtp import MssanteDeliverer, SmtpConfig, SmtpSender
from fhirserver.integrations.mssante.xdm import build_xdm
from fhirserver.integrations.outbox.types import OutboxItem, TransientError
from fhirserver.interactions.context import Context
from fhirserver.settings import Settings
from mappings.cda.to_fhir import read_document

__all__ = ["InboxStats", "MssanteService", "build_mssante", "rendition_filename"]

log = logging.getLogger(__name__)


#: N1 body media types (JDV_J60 XDS-SD formats) -> file name extension
_EXTENSIONS = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/tiff": "tif", "text/rtf": "rtf",
               "text/plain": "txt"}


def rendition_filename(effective_date: str, title: str, media_type: str = "application/pdf") -> str:
    """``YYYYMMDD_<title>.<ext>`` with only ASCII letters, digits and ``_`` (MSSanté clients show it)."""
    plain = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    words = "".join(c if c.isalnum() else " " for c in plain).split()
    extension = _EXTENSIONS.get(media_type, "bin")
    return f"{effective_date[:10].replace('-', '')}_{'_'.join(words)[:60] or 'document'}.{extension}"


@dataclass
class InboxStats:
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    retried: int = 0  # left in the inbox (transient failure)
    errors: int = 0  # moved to the error folder (could not be processed at all)
    results: list[IngestResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.retried or self.errors)


class MssanteService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sender_address = settings.mssante.sender
        self.smtp = SmtpSender(SmtpConfig.from_settings(settings))

    # --- sending ---------------------------------------------------------------------------------------------

    def compose(self, cda: bytes, to: str, *, notification_to: str | None = None,
                no_reply: bool = False) -> EmailMessage:
        """The message for one CDA document: IHE_XDM.ZIP built from it, its N1 body (PDF...) as the rendition.
        Raises ValueError (a :class:`~mappings.cda.to_fhir.CdaReadError`, an address error) for a message that can
        never be built."""
        if not self.sender_address:
            raise ValueError("setting [mssante] sender is empty: no MSSanté sender address")
        received = read_document(cda)
        media = received.rendition_type or "application/pdf"
        patient = received.patient
        outgoing = Outgoing(
            unique_id=received.unique_id,
            xdm_zip=build_xdm(cda, recipients=(to,), software=self.settings.cda.software_name),
            rendition=received.rendition,
            rendition_filename=rendition_filename(str(received.document_reference["date"]), received.title, media),
            identity=SubjectIdentity(received.title, patient.birth_family, patient.first_given, patient.birth_date),
            rendition_type=media,
        )
        return build_message(outgoing, sender=self.sender_address, to=to, notification_to=notification_to,
                             no_reply=no_reply)

    def compose_item(self, item: OutboxItem) -> EmailMessage:
        to = item.target or str(item.metadata.get("recipient") or "")
        if not to:
            raise ValueError("outbox item without recipient")
        return self.compose(item.payload, to, notification_to=item.metadata.get("notification_to") or None,
                            no_reply=bool(item.metadata.get("no_reply")))

    def deliverer(self) -> MssanteDeliverer:
        return MssanteDeliverer(self.compose_item, self.smtp)

    # --- receiving -------------------------------------------------------------------------------------------

    def open_inbox(self) -> Inbox:
        s = self.settings.mssante
        if s.inbox == "imap":
            return ImapInbox(s.imap_host, s.imap_port, s.imap_username)
        return MaildirInbox(s.maildir)

    def ingest(self, ctx: Context, inbox: Inbox) -> InboxStats:
        """Process every message waiting in ``inbox`` once (see :mod:`~fhirserver.integrations.mssante.inbox`
        for where each one goes)."""
        if not self.sender_address:
            raise ValueError("setting [mssante] sender is empty: error notifications cannot be sent")
        stats = InboxStats()
        for message in list(inbox.pending()):
            try:
                result = ingest_message(ctx, message.raw, sender=self.sender_address, send=self.smtp.send)
            except TransientError as exc:
                log.warning("mssante ingest: message %s left for a later poll (%s)", message.key, exc)
                stats.retried += 1
                continue
            except Exception as exc:  # noqa: BLE001 - never lose a message; never log its content
                log.error("mssante ingest: message %s moved to the error folder (%s)", message.key,
                          type(exc).__name__)
                inbox.failed(message.key)
                stats.errors += 1
                continue
            stats.results.append(result)
            if result.status == "rejected":  # the sender was notified; kept in the error folder for a human
                stats.rejected += 1
                inbox.failed(message.key)
                continue
            if result.status == "duplicate":
                stats.duplicates += 1
            else:
                stats.stored += 1
            inbox.done(message.key)
        return stats


def build_mssante(settings: Settings) -> MssanteService:
    """The service for ``settings`` (nothing is opened or read from the environment here)."""
    return MssanteService(settings)


def register(ctx: Context) -> Any:
    """Register the service and the outbox deliverer on ``ctx`` (called by :func:`fhirserver.domain.configure`)."""
    service = build_mssante(ctx.settings)
    ctx.services.mssante = service
    ctx.services.deliverers["mssante"] = service.deliverer()
    return service
