"""SMTP submission of MSSanté messages (RFC 5321, STARTTLS RFC 3207, AUTH RFC 4954) with the outbox's error
vocabulary: a reply code 4xx or a connection failure is transient (retry later), a 5xx is permanent.

The MSSanté operator's SMTP relay is configured by ``[mssante] smtp_host / smtp_port / smtp_starttls /
smtp_username``; the password comes from the environment only (``DUI_MSSANTE_SMTP_PASSWORD``), read when a message
is sent, never at import time. Nothing of the message (recipients' INS, subject, content) is logged.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage

from fhirserver.integrations.outbox.types import (
    DeliveryError,
    DeliveryResult,
    OutboxItem,
    PermanentError,
    TransientError,
)
from fhirserver.settings import Settings

__all__ = ["PASSWORD_ENV", "MssanteDeliverer", "SmtpConfig", "SmtpSender", "classify_reply"]

PASSWORD_ENV = "DUI_MSSANTE_SMTP_PASSWORD"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    starttls: bool = False
    username: str = ""
    timeout_seconds: float = 30.0  # connection and each reply

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpConfig:
        return cls(settings.mssante.smtp_host, settings.mssante.smtp_port, settings.mssante.smtp_starttls,
                   settings.mssante.smtp_username, float(settings.mssante.smtp_timeout_seconds))


def classify_reply(code: int, what: str) -> DeliveryError:
    """The outbox error for an SMTP reply ``code``: 4xx transient, anything else (5xx) permanent. The message
    keeps the code and the step only (the server's text may echo addresses)."""
    if 400 <= code < 500:
        return TransientError(f"SMTP {what}: temporary failure {code}")
    return PermanentError(f"SMTP {what}: refused {code}")


def _refusal(codes: list[int], what: str) -> DeliveryError:
    """One error for several refused recipients: permanent as soon as one refusal is."""
    permanent = [c for c in codes if not 400 <= c < 500]
    return classify_reply(permanent[0] if permanent else (codes or [450])[0], what)


class SmtpSender:
    """Sends one message per connection (MSSanté volumes are low; a connection never outlives a delivery)."""

    def __init__(self, config: SmtpConfig, environ: Mapping[str, str] | None = None) -> None:
        self.config = config
        self._environ = os.environ if environ is None else environ

    def _password(self) -> str:
        password = self._environ.get(PASSWORD_ENV, "")
        if self.config.username and not password:
            raise PermanentError(f"SMTP login: [mssante] smtp_username is set but {PASSWORD_ENV} is empty")
        return password

    def send(self, msg: EmailMessage) -> None:
        """Submit ``msg`` to its ``To``/``Cc`` recipients. Raises :class:`TransientError` (4xx, connection
        refused, timeout, disconnection) or :class:`PermanentError` (5xx, STARTTLS not offered, missing
        password)."""
        password = self._password()
        cfg = self.config
        try:
            with smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_seconds) as smtp:
                smtp.ehlo()
                if cfg.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if cfg.username:
                    smtp.login(cfg.username, password)
                refused = smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            raise _refusal([code for code, _ in exc.recipients.values()], "RCPT") from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise PermanentError("SMTP: the server does not offer STARTTLS / AUTH as configured") from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise classify_reply(exc.smtp_code, "AUTH") from exc
        except smtplib.SMTPSenderRefused as exc:
            raise classify_reply(exc.smtp_code, "MAIL FROM") from exc
        except smtplib.SMTPDataError as exc:
            raise classify_reply(exc.smtp_code, "DATA") from exc
        except smtplib.SMTPConnectError as exc:
            raise classify_reply(exc.smtp_code, "connect") from exc
        except smtplib.SMTPResponseException as exc:
            raise classify_reply(exc.smtp_code, "reply") from exc
        except (smtplib.SMTPException, OSError) as exc:  # disconnected, refused, timeout, TLS failure
            raise TransientError(f"SMTP: {type(exc).__name__} talking to {cfg.host}:{cfg.port}") from exc
        if refused:  # some recipients accepted, others refused: report the refusal for the refused ones
            raise _refusal([code for code, _ in refused.values()], "RCPT (partial)")
        log.info("mssante: message %s submitted to %s:%s", msg.get("Message-ID", "?"), cfg.host, cfg.port)


#: builds the e-mail for an outbox item; raises ValueError for an item that can never be sent
Composer = Callable[[OutboxItem], EmailMessage]


class MssanteDeliverer:
    """The outbox deliverer of kind ``mssante``: compose the message (XDM + rendition) and submit it over SMTP.

    Idempotency: the Message-ID is a function of the document uniqueId and the sender
    (:func:`~fhirserver.integrations.mssante.message.message_id`), so a redelivery after a crash sends a message
    the receiver recognises as the same one; it is returned as the ``remote_id``.
    """

    kind = "mssante"

    def __init__(self, compose: Composer, sender: SmtpSender) -> None:
        self.compose = compose
        self.sender = sender

    def deliver(self, item: OutboxItem) -> DeliveryResult:
        try:
            msg = self.compose(item)
        except ValueError as exc:  # an invalid document or address never becomes sendable
            raise PermanentError(f"MSSanté message not built: {type(exc).__name__}") from exc
        self.sender.send(msg)
        return DeliveryResult(remote_id=str(msg["Message-ID"]), detail="submitted")
