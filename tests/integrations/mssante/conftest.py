"""A real SMTP server (aiosmtpd) on loopback for the MSSanté tests, and settings pointing at it."""

from __future__ import annotations

import email
import email.policy
import socket
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest

from fhirserver.integrations.mssante.service import MssanteService

#: our MSSanté address (the DUI's applicative mailbox)
OURS = "dui@ehpad-les-tilleuls.mssante.fr"


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage
    raw: bytes


@dataclass
class Recorder:
    """aiosmtpd handler keeping every message; ``rcpt_reply`` / ``data_reply`` force an SMTP reply."""

    received: list[Received] = field(default_factory=list)
    rcpt_reply: str | None = None
    data_reply: str | None = None

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          rcpt_options: list[str]) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.data_reply:
            return self.data_reply
        raw = bytes(envelope.original_content or envelope.content)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), msg, raw))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SmtpServer:
    host: str
    port: int
    recorder: Recorder

    @property
    def received(self) -> list[Received]:
        return self.recorder.received


@pytest.fixture()
def service(context: Any, smtp_server: SmtpServer) -> MssanteService:
    """The MSSanté service of the test app, sending as :data:`OURS` through :func:`smtp_server`."""
    settings = context.settings.with_overrides(
        mssante_sender=OURS, mssante_smtp_host=smtp_server.host, mssante_smtp_port=smtp_server.port,
        mssante_smtp_starttls=False, mssante_smtp_username="")
    return MssanteService(settings)
