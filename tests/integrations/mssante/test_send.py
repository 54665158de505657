"""Sending a CDA document by MSSanté (service.compose + SMTP + the outbox deliverer) to a real SMTP server, parsed
back: subject, recipients, attachments, the XDM content and its METADATA.XML hash."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from fhirserver.integrations.mssante.message import message_id
from fhirserver.integrations.mssante.service import MssanteService, register
from fhirserver.integrations.mssante.xdm import read_xdm
from fhirserver.integrations.outbox.types import OutboxItem, PermanentError
from mappings.cda.documents.n1 import build_n1
from mappings.xds.metadata import document_bytes
from tests.integrations.mssante.conftest import OURS, SmtpServer
from tests.mappings import sample_document

EXAMPLES = Path(__file__).resolve().parents[4] / "shared" / "ans" / "cda-examples"
N1 = (EXAMPLES / "DOC_NON_STRUCTURE_CDA-R2-N1.xml").read_bytes()
DLU = (EXAMPLES / "DLU-EHPAD-DLU_2022.01.xml").read_bytes()
PATIENT_BOX = "279035121518989@patient.mssante.fr"
RIM = "{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}"
V3 = "{urn:hl7-org:v3}"


def _slot(root: etree._Element, name: str) -> list[str]:
    slot = root.find(f".//{RIM}ExtrinsicObject/{RIM}Slot[@name='{name}']")
    assert slot is not None, name
    return [v.text or "" for v in slot.iter(f"{RIM}Value")]


def test_n1_document_reaches_the_patient_mailbox(service: MssanteService, smtp_server: SmtpServer) -> None:
    """One message to <INS>@patient.mssante.fr: XDM/1.0/DDM subject, IHE_XDM.ZIP holding the very CDA with its
    SHA-1 and size in METADATA.XML, and the embedded PDF as the readable attachment."""
    service.smtp.send(service.compose(N1, PATIENT_BOX, no_reply=True))
    [got] = smtp_server.received
    assert got.sender == OURS and got.recipients == [PATIENT_BOX]
    msg = got.message
    assert msg["Subject"] == ("XDM/1.0/DDM+Compte rendu d'examens biologiques PAT-TROIS DOMINIQUE 28/03/1979")
    assert msg["Message-ID"] == message_id("1.3.6.1.4.1.19376.1.2.20.12345.1.1", OURS)
    assert msg["X-MSS-MES"] == "FIN"
    xdm, pdf = list(msg.iter_attachments())
    assert (xdm.get_filename(), xdm.get_content_type()) == ("IHE_XDM.ZIP", "application/zip")
    assert pdf.get_content_type() == "application/pdf" and pdf.get_filename() == (
        "20210401_Compte_rendu_d_examens_biologiques.pdf")
    text = etree.fromstring(N1).find(f"{V3}component/{V3}nonXMLBody/{V3}text")
    assert text is not None
    assert pdf.get_payload(decode=True) == base64.b64decode("".join((text.text or "").split()))
    archive = zipfile.ZipFile(io.BytesIO(xdm.get_payload(decode=True)))
    names = set(archive.namelist())
    assert {"INDEX.HTM", "README.TXT", "IHE_XDM/SUBSET01/METADATA.XML", "IHE_XDM/SUBSET01/DOC0001.XML"} <= names
    assert archive.read("IHE_XDM/SUBSET01/DOC0001.XML") == N1
    metadata = etree.fromstring(archive.read("IHE_XDM/SUBSET01/METADATA.XML"))
    assert _slot(metadata, "hash") == [hashlib.sha1(N1).hexdigest()]  # noqa: S324
    assert _slot(metadata, "size") == [str(len(N1))]
    assert _slot(metadata, "URI") == ["DOC0001.XML"]
    package_slot = metadata.find(f".//{RIM}RegistryPackage/{RIM}Slot[@name='intendedRecipient']")
    assert package_slot is not None
    assert [v.text for v in package_slot.iter(f"{RIM}Value")] == [f"||^^Internet^{PATIENT_BOX}"]
    [document] = read_xdm(xdm.get_payload(decode=True))
    assert document.content == N1


def test_structured_dlu_is_sent_without_pdf(service: MssanteService, smtp_server: SmtpServer) -> None:
    """A structured document (DLU) has no embedded rendition: only IHE_XDM.ZIP is attached."""
    service.smtp.send(service.compose(DLU, "urgences@chu.mssante.fr"))
    [got] = smtp_server.received
    assert [a.get_filename() for a in got.message.iter_attachments()] == ["IHE_XDM.ZIP"]
    assert got.message["Subject"].startswith("XDM/1.0/DDM+DOCUMENT DE LIAISON D'URGENCE PAT-TROIS")


def test_outbox_deliverer_sends_the_item_to_its_target(context: Any, service: MssanteService,
                                                       smtp_server: SmtpServer) -> None:
    """The deliverer registered for kind mssante sends the item's CDA to item.target; a redelivery carries the
    same Message-ID; a payload that is not a CDA fails permanently."""
    ctx = dataclasses.replace(context, services=dataclasses.replace(context.services, deliverers={}))
    ctx.settings = service.settings
    register(ctx)
    deliverer = ctx.services.deliverers["mssante"]
    assert deliverer.kind == "mssante"
    item = OutboxItem(id=1, kind="mssante", unique_id="1.3.6.1.4.1.19376.1.2.20.12345.1.1", document_id="d1",
                      payload=N1, target="dr.martin@hopital.mssante.fr")
    first = deliverer.deliver(item)
    again = deliverer.deliver(dataclasses.replace(item, attempts=1))
    assert first.remote_id == again.remote_id == message_id(item.unique_id, OURS)
    assert [r.recipients for r in smtp_server.received] == [["dr.martin@hopital.mssante.fr"]] * 2
    with pytest.raises(PermanentError):
        deliverer.deliver(dataclasses.replace(item, payload=b"<not-a-cda/>"))
    with pytest.raises(PermanentError):
        deliverer.deliver(dataclasses.replace(item, target=""))


def test_jpeg_n1_carries_its_image_as_the_readable_attachment(service: MssanteService,
                                                              smtp_server: SmtpServer) -> None:
    """An N1 whose body is a JPEG: the image is attached as image/jpeg (.jpg), beside IHE_XDM.ZIP."""
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF\x00" + b"\x00" * 32 + b"\xff\xd9"
    cda = document_bytes(build_n1(sample_document(), jpeg, "image/jpeg"))
    service.smtp.send(service.compose(cda, "dr.martin@hopital.mssante.fr"))
    [got] = smtp_server.received
    xdm, image = list(got.message.iter_attachments())
    assert xdm.get_filename() == "IHE_XDM.ZIP"
    assert image.get_content_type() == "image/jpeg" and image.get_filename().endswith(".jpg")
    assert image.get_payload(decode=True) == jpeg
