"""SMTP submission (fhirserver.integrations.mssante.smtp) against a real local SMTP server."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fhirserver.integrations.mssante.smtp import PASSWORD_ENV, MssanteDeliverer, SmtpConfig, SmtpSender
from fhirserver.integrations.outbox.types import OutboxItem, PermanentError, TransientError
from tests.integrations.mssante.conftest import Recorder, SmtpServer, free_port


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


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (IP SAN) and its key, PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mssante test relay")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "relay.pem", tmp_path / "relay.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_starttls_and_login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A relay requiring STARTTLS then AUTH: the certificate is verified, the password comes from the
    environment, a wrong password is a permanent refusal (535)."""
    cert_file, key_file = _self_signed(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert_file, key_file)
    recorder = Recorder()
    logins: list[tuple[bytes, bytes]] = []

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        logins.append((data.login, data.password))
        if data.login == b"dui" and data.password == b"s3cret":
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False, message="535 5.7.8 Authentication credentials invalid")

    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port, tls_context=tls, require_starttls=True,
                            auth_required=True, authenticator=authenticate, auth_exclude_mechanism=["LOGIN"])
    controller.start()
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # trust the test relay's certificate
        config = SmtpConfig("127.0.0.1", port, starttls=True, username="dui")
        SmtpSender(config, environ={PASSWORD_ENV: "s3cret"}).send(_message())
        assert len(recorder.received) == 1 and logins == [(b"dui", b"s3cret")]
        with pytest.raises(PermanentError, match="AUTH: refused 535"):
            SmtpSender(config, environ={PASSWORD_ENV: "wrong"}).send(_message())
        assert len(recorder.received) == 1
    finally:
        controller.stop()


def test_smtp_timeout_comes_from_the_settings() -> None:
    """[mssante] smtp_timeout_seconds bounds the connection and each reply."""
    from fhirserver.settings import load_settings

    config = SmtpConfig.from_settings(load_settings(database_url="sqlite://", mssante_smtp_timeout_seconds=7))
    assert config.timeout_seconds == 7.0
