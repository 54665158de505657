"""SMTP submission (fhirserver.integrations.mssante.smtp) against a real local SMTP server."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from fhirserver.integrations.mssante.smtp import MssanteDeliverer, SmtpConfig, SmtpSender
from fhirserver.integrations.outbox.types import OutboxItem, PermanentError, TransientError
from tests.integrations.mssante.conftest import SmtpServer, free_port


def _message(to: str = "dr.martin@hopital.mssante.fr") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "dui@ehpad.mssante.fr"
    msg["To"] = to
    msg["Subject"] = "XDM/1.0/DDM+test"
    msg["Message-ID"] = "<abc.document@ehpad.mssante.fr>"
    msg.set_content("Bonjour")
    return msg


def test_message_is_submitted_to_its_recipient(smtp_server: SmtpServer) -> None:
    """The server receives the message from the sender for the To recipient."""
    SmtpSender(SmtpConfig(smtp_server.host, smtp_server.port)).send(_message())
    [got] = smtp_server.received
    assert got.sender == "dui@ehpad.mssante.fr"
    assert got.recipients == ["dr.martin@hopital.mssante.fr"]
    assert got.message["Message-ID"] == "<abc.document@ehpad.mssante.fr>"


@pytest.mark.parametrize(("where", "reply", "error"), [
    ("data_reply", "451 4.3.0 try again later", TransientError),
    ("data_reply", "554 5.7.1 message refused", PermanentError),
    ("rcpt_reply", "450 4.2.1 mailbox busy", TransientError),
    ("rcpt_reply", "550 5.1.1 no such mailbox", PermanentError),
])
def test_reply_codes_map_to_outbox_errors(smtp_server: SmtpServer, where: str, reply: str,
                                          error: type[Exception]) -> None:
    """4xx replies are transient, 5xx permanent; the error message keeps the code, not the server's text."""
    setattr(smtp_server.recorder, where, reply)
    with pytest.raises(error) as caught:
        SmtpSender(SmtpConfig(smtp_server.host, smtp_server.port)).send(_message())
    assert reply[:3] in str(caught.value)
    assert "mailbox" not in str(caught.value) and not smtp_server.received


def test_unreachable_server_is_transient() -> None:
    """Connection refused (nothing listening) is retried later."""
    with pytest.raises(TransientError, match="ConnectionRefusedError"):
        SmtpSender(SmtpConfig("127.0.0.1", free_port(), timeout_seconds=5)).send(_message())


def test_starttls_not_offered_is_permanent(smtp_server: SmtpServer) -> None:
    """STARTTLS required by the settings but not offered by the server: a configuration error, not retried."""
    with pytest.raises(PermanentError, match="STARTTLS"):
        SmtpSender(SmtpConfig(smtp_server.host, smtp_server.port, starttls=True)).send(_message())
    assert not smtp_server.received


def test_login_without_password_is_refused_before_connecting(smtp_server: SmtpServer) -> None:
    """A username without DUI_MSSANTE_SMTP_PASSWORD is a permanent configuration error."""
    sender = SmtpSender(SmtpConfig(smtp_server.host, smtp_server.port, username="dui"), environ={})
    with pytest.raises(PermanentError, match="DUI_MSSANTE_SMTP_PASSWORD"):
        sender.send(_message())


def test_deliverer_returns_the_message_id_and_refuses_unbuildable_items(smtp_server: SmtpServer) -> None:
    """The outbox deliverer sends what its composer builds; a composer ValueError is a PermanentError."""
    item = OutboxItem(id=1, kind="mssante", unique_id="1.2.3", document_id="d1", payload=b"<cda/>",
                      target="dr.martin@hopital.mssante.fr")
    sender = SmtpSender(SmtpConfig(smtp_server.host, smtp_server.port))
    result = MssanteDeliverer(lambda it: _message(it.target), sender).deliver(item)
    assert result.remote_id == "<abc.document@ehpad.mssante.fr>"
    assert len(smtp_server.received) == 1

    def broken(it: OutboxItem) -> EmailMessage:
        raise ValueError("recipient 'x' is not an e-mail address")

    with pytest.raises(PermanentError):
        MssanteDeliverer(broken, sender).deliver(item)
