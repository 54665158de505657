"""``dui mss ingest --once`` and ``dui mss send`` + ``dui worker --once``: the commands on the test database,
a Maildir and a real SMTP server."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from fhirserver.cli import main
from tests.conftest import ANS_KIT, CDA_CACHE, FhirClient
from tests.integrations.mssante.conftest import OURS, SmtpServer
from tests.integrations.mssante.test_ingest import LAB, N1, dominique, message_for
from tests.integrations.outbox.documents import cda_bytes, cda_document_reference, qualified_patient


@pytest.fixture()
def env(monkeypatch: pytest.MonkeyPatch, database_url: str, smtp_server: SmtpServer, tmp_path: Path) -> Path:
    """The CLI's settings: the test database, the ANS kit, our MSSanté address, the local SMTP server, a Maildir."""
    maildir = tmp_path / "maildir"
    for name, value in {"DUI_DATABASE_URL": database_url, "DUI_CDA_KIT_DIR": str(ANS_KIT),
                        "DUI_CDA_CACHE_DIR": str(CDA_CACHE), "DUI_MSSANTE_SENDER": OURS,
                        "DUI_MSSANTE_SMTP_HOST": smtp_server.host, "DUI_MSSANTE_SMTP_PORT": str(smtp_server.port),
                        "DUI_MSSANTE_SMTP_STARTTLS": "false", "DUI_MSSANTE_SMTP_USERNAME": "",
                        "DUI_MSSANTE_INBOX": "maildir", "DUI_MSSANTE_MAILDIR": str(maildir)}.items():
        monkeypatch.setenv(name, value)
    return maildir


def _drop(maildir: Path, name: str, raw: bytes) -> None:
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    (maildir / "new" / name).write_bytes(raw)


def test_ingest_once_files_every_message(fhir: FhirClient, env: Path, smtp_server: SmtpServer,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """One message stored, one answered with 902 (another usager's INS): exit 0, the summary on stderr."""
    fhir.create(dominique())
    _drop(env, "1.msg", message_for(N1))
    other = N1.replace(b'extension="279035121518989"', b'extension="240062123191008"')
    _drop(env, "2.msg", message_for(other))
    assert main(["mss", "ingest", "--once"]) == 0
    assert "1 stored, 0 duplicate(s), 1 rejected" in capsys.readouterr().err
    assert len(fhir.search("DocumentReference")) == 1
    [reply] = smtp_server.received
    assert reply.recipients == [LAB] and reply.message["Subject"].startswith("[KO Intégration système !][902]")
    assert list((env / "new").iterdir()) == []


def test_ingest_once_exits_1_when_a_message_is_left_for_later(fhir: FhirClient, env: Path,
                                                              smtp_server: SmtpServer) -> None:
    """The error notification (no IHE_XDM.ZIP: 906) cannot be sent (SMTP 451): the message stays in new/ and the
    exit status is 1."""
    smtp_server.recorder.data_reply = "451 4.3.0 try later"
    _drop(env, "1.msg", f"From: {LAB}\r\nTo: {OURS}\r\nSubject: XDM/1.0/DDM+Courrier\r\n\r\nBonjour".encode())
    assert main(["mss", "ingest", "--once"]) == 1
    assert [p.name for p in (env / "new").iterdir()] == ["1.msg"]


def test_send_queues_and_the_worker_delivers(fhir: FhirClient, env: Path, smtp_server: SmtpServer,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """dui mss send --to patient queues the document for <INS>@patient.mssante.fr; dui worker --once sends the
    IHE_XDM.ZIP holding the very CDA; a second send does not queue it twice."""
    assert fhir.put("Patient/p1", qualified_patient()).status_code in (200, 201)
    cda = cda_bytes()
    assert fhir.put("DocumentReference/d1", cda_document_reference("d1", cda)).status_code in (200, 201)
    assert main(["mss", "send", "--document-reference", "d1", "--to", "patient"]) == 0
    assert "queued now" in capsys.readouterr().out
    assert main(["mss", "send", "--document-reference", "d1", "--to", "patient"]) == 0
    assert "already queued" in capsys.readouterr().out
    assert main(["worker", "--once", "--kind", "mssante"]) == 0
    [got] = smtp_server.received
    assert got.recipients == ["240062123191008@patient.mssante.fr"]
    assert got.message["Subject"].startswith("XDM/1.0/DDM+")
    xdm = next(a for a in got.message.iter_attachments() if a.get_filename() == "IHE_XDM.ZIP")
    archive = zipfile.ZipFile(io.BytesIO(xdm.get_payload(decode=True)))
    assert archive.read("IHE_XDM/SUBSET01/DOC0001.XML") == cda


def test_send_refusals_are_explained(fhir: FhirClient, env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown DocumentReference and a bad address exit 1 with the reason."""
    assert main(["mss", "send", "--document-reference", "nope", "--to", "a@b.mssante.fr"]) == 1
    assert "DocumentReference/nope" in capsys.readouterr().err
    fhir.put("Patient/p1", qualified_patient())
    fhir.put("DocumentReference/d1", cda_document_reference("d1", cda_bytes()))
    assert main(["mss", "send", "--document-reference", "d1", "--to", "not an address"]) == 1
    assert "not an e-mail address" in capsys.readouterr().err




def test_ingest_polls_until_sigterm(fhir: FhirClient, env: Path, smtp_server: SmtpServer,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """`dui mss ingest` as a process: a message dropped while it runs is answered on a later poll; SIGTERM stops
    it with exit status 0."""
    monkeypatch.setenv("DUI_WORKER_POLL_SECONDS", "1")
    dui = os.path.join(os.path.dirname(sys.executable), "dui")
    proc = subprocess.Popen([dui, "mss", "ingest"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(1)
        _drop(env, "1.msg", f"From: {LAB}\r\nTo: {OURS}\r\nSubject: XDM/1.0/DDM+Courrier\r\n\r\nBonjour".encode())
        deadline = time.monotonic() + 60
        while not smtp_server.received and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert [r.message["Subject"] for r in smtp_server.received] == [
            "[KO Intégration système !][906] XDM/1.0/DDM+Courrier"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
    assert list((env / "new").iterdir()) == []
