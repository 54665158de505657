"""Intégration d'un document reçu par MSSanté (fhirserver.integrations.mssante.ingest) end to end: a message built
from the official N1 example dropped into a Maildir, the app's database, the ANS kit, a real SMTP server for the
error notifications."""

from __future__ import annotations

import base64
import dataclasses
import logging
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from fhirserver.integrations.mssante.inbox import MaildirInbox
from fhirserver.integrations.mssante.message import Outgoing, SubjectIdentity, build_message
from fhirserver.integrations.mssante.service import MssanteService
from fhirserver.integrations.mssante.xdm import build_xdm
from tests.conftest import FhirClient
from tests.integrations.mssante.conftest import OURS, SmtpServer

EXAMPLES = Path(__file__).resolve().parents[4] / "shared" / "ans" / "cda-examples"
N1 = (EXAMPLES / "DOC_NON_STRUCTURE_CDA-R2-N1.xml").read_bytes()
N1_ID = "urn:ietf:rfc:3986|urn:oid:1.3.6.1.4.1.19376.1.2.20.12345.1.1"
LAB = "labo@charmes.mssante.fr"
V3 = "{urn:hl7-org:v3}"
V2_0203 = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
EXT_GIVEN_LIST = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-birth-list-given-name"
EXT_BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
EXT_INSEE = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code"
TRE_R13 = "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM"


def dominique(family: str = "Pat-Trois") -> dict[str, Any]:
    """The usager of the N1 example (INS-NIR test 279035121518989), as recorded locally (other case)."""
    return {
        "resourceType": "Patient",
        "identifier": [{"use": "official", "type": {"coding": [{"system": V2_0203, "code": "INS-NIR-TEST"}]},
                        "system": "urn:oid:1.2.250.1.213.1.4.10", "value": "279035121518989"}],
        "name": [{"use": "official", "family": family, "given": ["Dominique"],
                  "extension": [{"url": EXT_GIVEN_LIST, "valueString": "Dominique Marie-Louise"}]}],
        "gender": "female", "birthDate": "1979-03-28",
        "extension": [{"url": EXT_BIRTH_PLACE, "valueAddress": {"extension": [
            {"url": EXT_INSEE, "valueCoding": {"system": TRE_R13, "code": "51215"}}]}}],
    }


def message_for(cda: bytes, *, xdm: bytes | None = None, mdn: bool = False, return_path: str | None = None) -> bytes:
    """What the laboratory's MSSanté software sends us: the CDA in IHE_XDM.ZIP plus its PDF (``mdn``: asking for a
    disposition notification; ``return_path``: the envelope sender the delivery agent recorded)."""
    outgoing = Outgoing("1.3.6.1.4.1.19376.1.2.20.12345.1.1", build_xdm(cda) if xdm is None else xdm,
                        b"%PDF-1.4 rendition", "20210401_CR_biologie.pdf",
                        SubjectIdentity("Compte rendu d'examens biologiques", "PAT-TROIS", "DOMINIQUE",
                                        "1979-03-28"))
    msg = build_message(outgoing, sender=LAB, to=OURS, notification_to=LAB if mdn else None)
    if return_path:
        msg["Return-Path"] = f"<{return_path}>"
    return msg.as_bytes()


@pytest.fixture()
def inbox(tmp_path: Path) -> MaildirInbox:
    return MaildirInbox(tmp_path / "maildir")


def drop(inbox: MaildirInbox, name: str, raw: bytes) -> None:
    (inbox.path / "tmp" / name).write_bytes(raw)
    (inbox.path / "tmp" / name).rename(inbox.path / "new" / name)


def test_n1_document_is_stored_for_the_matched_usager(fhir: FhirClient, context: Any, service: MssanteService,
                                                      inbox: MaildirInbox, smtp_server: SmtpServer) -> None:
    """DocumentReference + the CDA and its PDF as Binaries, subject = the usager matched by INS and traits."""
    patient = fhir.create(dominique())
    drop(inbox, "1.msg", message_for(N1))
    stats = service.ingest(context, inbox)
    assert (stats.stored, stats.rejected, stats.errors, stats.retried) == (1, 0, 0, 0)
    [doc] = fhir.search(f"DocumentReference?identifier={N1_ID}")
    assert doc["subject"]["reference"] == f"Patient/{patient['id']}"
    assert doc["type"]["coding"][0]["code"] == "11502-2"
    cda_url, pdf_url = (c["attachment"]["url"] for c in doc["content"])
    cda = fhir.get(cda_url).get_json()
    pdf = fhir.get(pdf_url).get_json()
    assert base64.b64decode(cda["data"]) == N1
    text = etree.fromstring(N1).find(f"{V3}component/{V3}nonXMLBody/{V3}text")
    assert text is not None
    assert base64.b64decode(pdf["data"]) == base64.b64decode("".join((text.text or "").split()))
    assert pdf["contentType"] == "application/pdf"
    assert pdf["securityContext"]["reference"] == f"Patient/{patient['id']}"
    assert smtp_server.received == []  # no error notification
    assert [p.name for p in (inbox.path / "cur").iterdir()] == ["1.msg:2,S"]


def test_same_document_twice_gives_one_document_reference(fhir: FhirClient, context: Any,
                                                          service: MssanteService, inbox: MaildirInbox) -> None:
    """A second message with the same CDA is a duplicate: still one DocumentReference, Binaries unchanged."""
    fhir.create(dominique())
    drop(inbox, "1.msg", message_for(N1))
    assert service.ingest(context, inbox).stored == 1
    [doc] = fhir.search(f"DocumentReference?identifier={N1_ID}")
    drop(inbox, "2.msg", message_for(N1))
    stats = service.ingest(context, inbox)
    assert (stats.stored, stats.duplicates) == (0, 1)
    assert stats.results[0].document_references == (doc["id"],)
    assert [d["id"] for d in fhir.search(f"DocumentReference?identifier={N1_ID}")] == [doc["id"]]
    binary = doc["content"][0]["attachment"]["url"]
    history = fhir.get(f"{binary}/_history").get_json()
    assert history["total"] == 1


def _no_document(fhir: FhirClient) -> None:
    assert fhir.search("DocumentReference") == []


def _reply(smtp_server: SmtpServer) -> Any:
    [reply] = smtp_server.received
    assert reply.recipients == [LAB]
    assert reply.sender == OURS
    return reply.message


def test_unknown_patient_gets_the_902_notification(fhir: FhirClient, context: Any, service: MssanteService,
                                                   inbox: MaildirInbox, smtp_server: SmtpServer,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    """No usager with this INS: nothing stored, [KO Intégration système !][902] sent back with the attachments,
    the message kept in the error folder; the log names neither the usager nor the INS."""
    caplog.set_level(logging.DEBUG, logger="fhirserver")
    drop(inbox, "1.msg", message_for(N1))
    stats = service.ingest(context, inbox)
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("fhirserver"))
    assert "rejected with code 902" in ours
    assert "PAT-TROIS" not in ours.upper() and "279035121518989" not in ours
    assert (stats.stored, stats.rejected) == (0, 1)
    _no_document(fhir)
    reply = _reply(smtp_server)
    assert reply["Subject"] == ("[KO Intégration système !][902] XDM/1.0/DDM+Compte rendu d'examens biologiques "
                                "PAT-TROIS DOMINIQUE 28/03/1979")
    body = reply.get_body(("plain",))
    assert "Identifiant patient inconnu" in body.get_content()
    names = [a.get_filename() for a in reply.iter_attachments()]
    assert names == ["IHE_XDM.ZIP", "20210401_CR_biologie.pdf", "message_original.eml"]
    assert [p.name for p in (inbox.path / ".Error" / "cur").iterdir()] == ["1.msg:2,S"]
    assert list((inbox.path / "new").iterdir()) == []


def _rejected(fhir: FhirClient, context: Any, service: MssanteService, inbox: MaildirInbox,
              smtp_server: SmtpServer, raw: bytes, code: str) -> str:
    """Drop ``raw``, ingest: rejected with ``code``, nothing stored, the notification's text returned."""
    drop(inbox, "1.msg", raw)
    assert service.ingest(context, inbox).rejected == 1
    _no_document(fhir)
    reply = _reply(smtp_server)
    assert reply["Subject"].startswith(f"[KO Intégration système !][{code}] XDM/1.0/DDM+")
    return str(reply.get_body(("plain",)).get_content())


def test_traits_that_differ_get_904(fhir: FhirClient, context: Any, service: MssanteService,
                                    inbox: MaildirInbox, smtp_server: SmtpServer) -> None:
    """Same INS but another birth family name locally: 904, nothing stored."""
    fhir.create(dominique(family="Pat-Quatre"))
    text = _rejected(fhir, context, service, inbox, smtp_server, message_for(N1), "904")
    assert "birth family name" in text


def test_corrupt_xdm_gets_906(fhir: FhirClient, context: Any, service: MssanteService, inbox: MaildirInbox,
                              smtp_server: SmtpServer) -> None:
    """An IHE_XDM.ZIP that is not a ZIP: 906 naming the archive, nothing stored."""
    fhir.create(dominique())
    text = _rejected(fhir, context, service, inbox, smtp_server, message_for(N1, xdm=b"this is not a zip"), "906")
    assert "not a ZIP archive" in text


def test_xdm_whose_document_does_not_match_its_metadata_gets_906(fhir: FhirClient, context: Any,
                                                                  service: MssanteService, inbox: MaildirInbox,
                                                                  smtp_server: SmtpServer) -> None:
    """A document altered after METADATA.XML was written (hash mismatch) is refused."""
    import io
    import zipfile

    fhir.create(dominique())
    original = zipfile.ZipFile(io.BytesIO(build_xdm(N1)))
    tampered = io.BytesIO()
    with zipfile.ZipFile(tampered, "w") as out:
        for info in original.infolist():
            data = original.read(info)
            if info.filename.endswith("DOC0001.XML"):
                data = data.replace(b"PAT-TROIS", b"PAT-TRAIS")
            out.writestr(info, data)
    text = _rejected(fhir, context, service, inbox, smtp_server, message_for(N1, xdm=tampered.getvalue()), "906")
    assert "SHA-1" in text


def test_invalid_cda_gets_906(fhir: FhirClient, context: Any, service: MssanteService, inbox: MaildirInbox,
                              smtp_server: SmtpServer) -> None:
    """A CDA failing the ANS kit (no realmCode, no BR qualifier on the first given name) is refused, nothing
    stored."""
    fhir.create(dominique())
    root = etree.fromstring(N1)
    root.remove(root.find(f"{V3}realmCode"))  # type: ignore[arg-type]
    for given in root.iter(f"{V3}given"):
        if given.get("qualifier") == "BR":
            del given.attrib["qualifier"]
    invalid = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    text = _rejected(fhir, context, service, inbox, smtp_server, message_for(invalid), "906")
    assert "fails the ANS checks" in text


def test_message_without_xdm_gets_906(fhir: FhirClient, context: Any, service: MssanteService,
                                      inbox: MaildirInbox, smtp_server: SmtpServer) -> None:
    """A plain e-mail without IHE_XDM.ZIP is answered (label from its subject) and set aside."""
    raw = (f"From: {LAB}\r\nTo: {OURS}\r\nSubject: XDM/1.0/DDM+Courrier\r\nMessage-ID: <x1@charmes>\r\n\r\n"
           "Bonjour").encode()
    drop(inbox, "1.msg", raw)
    assert service.ingest(context, inbox).rejected == 1
    reply = _reply(smtp_server)
    assert reply["Subject"] == "[KO Intégration système !][906] XDM/1.0/DDM+Courrier"
    assert reply["In-Reply-To"] == "<x1@charmes>"


def test_notification_not_sent_leaves_the_message_for_later(fhir: FhirClient, context: Any,
                                                            service: MssanteService, inbox: MaildirInbox,
                                                            smtp_server: SmtpServer) -> None:
    """When the error notification cannot be sent (SMTP 451) the message stays in new/ and is retried."""
    smtp_server.recorder.data_reply = "451 4.3.0 try later"
    drop(inbox, "1.msg", message_for(N1))
    stats = service.ingest(context, inbox)
    assert (stats.rejected, stats.retried) == (0, 1) and not stats.ok
    assert [p.name for p in (inbox.path / "new").iterdir()] == ["1.msg"]
    smtp_server.recorder.data_reply = None
    assert service.ingest(context, inbox).rejected == 1
    assert list((inbox.path / "new").iterdir()) == []


def _replacement(cda: bytes) -> bytes:
    """Version 2 of the N1 example: a new id, the same setId, relatedDocument RPLC pointing at version 1."""
    root = etree.fromstring(cda)
    parent_id = root.find(f"{V3}id")
    assert parent_id is not None
    related = etree.Element(f"{V3}relatedDocument", typeCode="RPLC")
    parent = etree.SubElement(related, f"{V3}parentDocument")
    etree.SubElement(parent, f"{V3}id", root=str(parent_id.get("root")))
    parent_id.set("root", "1.3.6.1.4.1.19376.1.2.20.12345.1.2")
    version = root.find(f"{V3}versionNumber")
    assert version is not None
    version.set("value", "2")
    documentation = root.find(f"{V3}documentationOf")
    assert documentation is not None
    documentation.addnext(related)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def test_replacement_supersedes_the_previous_version(fhir: FhirClient, context: Any, service: MssanteService,
                                                     inbox: MaildirInbox) -> None:
    """A document replacing one already received (RPLC): the old DocumentReference becomes superseded and the new
    one relates to it."""
    fhir.create(dominique())
    drop(inbox, "1.msg", message_for(N1))
    assert service.ingest(context, inbox).stored == 1
    [old] = fhir.search(f"DocumentReference?identifier={N1_ID}")
    drop(inbox, "2.msg", message_for(_replacement(N1)))
    stats = service.ingest(context, inbox)
    assert (stats.stored, stats.rejected) == (1, 0), stats.results
    [new] = fhir.search("DocumentReference?identifier=urn:ietf:rfc:3986|urn:oid:1.3.6.1.4.1.19376.1.2.20.12345.1.2")
    assert new["relatesTo"] == [{"code": "replaces", "target": {"reference": f"DocumentReference/{old['id']}"}}]
    assert fhir.get(f"DocumentReference/{old['id']}").get_json()["status"] == "superseded"
    assert new["status"] == "current"


def test_without_validator_nothing_is_integrated(fhir: FhirClient, context: Any, service: MssanteService,
                                                 inbox: MaildirInbox, smtp_server: SmtpServer) -> None:
    """No ANS kit configured: the message is neither stored nor answered, it waits in new/ for a later poll."""
    fhir.create(dominique())
    ctx = dataclasses.replace(context, services=dataclasses.replace(context.services, cda_validator=None))
    drop(inbox, "1.msg", message_for(N1))
    stats = service.ingest(ctx, inbox)
    assert (stats.stored, stats.rejected, stats.retried) == (0, 0, 1)
    _no_document(fhir)
    assert smtp_server.received == []
    assert [p.name for p in (inbox.path / "new").iterdir()] == ["1.msg"]


def _disposition(report: Any) -> str:
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "disposition-notification"
    parts = list(report.iter_parts())
    assert [p.get_content_type() for p in parts[:3]] == ["text/plain", "message/disposition-notification",
                                                         "message/rfc822"]
    fields = parts[1].get_payload()[0]
    assert fields["Final-Recipient"] == f"rfc822; {OURS}"
    assert fields["Original-Message-ID"].startswith("<") and fields["Original-Message-ID"].endswith(".mssante.fr>")
    return str(fields["Disposition"])


def test_mdn_processed_when_asked(fhir: FhirClient, context: Any, service: MssanteService, inbox: MaildirInbox,
                                  smtp_server: SmtpServer) -> None:
    """Disposition-Notification-To on an integrated message: a "processed" MDN to that address."""
    fhir.create(dominique())
    drop(inbox, "1.msg", message_for(N1, mdn=True, return_path=LAB))
    assert service.ingest(context, inbox).stored == 1
    mdn = _reply(smtp_server)
    assert mdn["Subject"] == "XDM/1.0/DDM+Compte rendu d'examens biologiques PAT-TROIS DOMINIQUE 28/03/1979"
    assert _disposition(mdn) == "automatic-action/MDN-sent-automatically; processed"


def test_mdn_error_for_an_unknown_patient(fhir: FhirClient, context: Any, service: MssanteService,
                                          inbox: MaildirInbox, smtp_server: SmtpServer) -> None:
    """Asked for an MDN, an unknown patient is answered by an MDN processed/Error: 902^… with the attachments."""
    drop(inbox, "1.msg", message_for(N1, mdn=True))
    assert service.ingest(context, inbox).rejected == 1
    _no_document(fhir)
    mdn = _reply(smtp_server)
    assert mdn["Subject"].startswith("[KO Intégration système !][902] XDM/1.0/DDM+Compte rendu")
    assert _disposition(mdn) == ("automatic-action/MDN-sent-automatically; processed/Error: "
                                 "902^Identifiant patient inconnu")
    names = [p.get_filename() for p in mdn.iter_parts()][2:]
    assert names == ["message_original.eml", "IHE_XDM.ZIP", "20210401_CR_biologie.pdf"]


def test_no_automatic_mdn_when_return_path_differs(fhir: FhirClient, context: Any, service: MssanteService,
                                                   inbox: MaildirInbox, smtp_server: SmtpServer) -> None:
    """RFC 8098 loop rule: Disposition-Notification-To other than Return-Path gets no MDN; an error then goes
    as the standard e-mail to the sender."""
    fhir.create(dominique())
    drop(inbox, "1.msg", message_for(N1, mdn=True, return_path="bounces@relay.example"))
    assert service.ingest(context, inbox).stored == 1
    assert smtp_server.received == []
    drop(inbox, "2.msg", message_for(N1, xdm=b"broken", mdn=True, return_path="bounces@relay.example"))
    assert service.ingest(context, inbox).rejected == 1
    reply = _reply(smtp_server)
    assert reply.get_content_type() == "multipart/mixed"
    assert reply["Subject"].startswith("[KO Intégration système !][906]")
