"""The MSSanté e-mail (fhirserver.integrations.mssante.message): subject, headers, attachments, error reply."""

from __future__ import annotations

import email
import email.policy
from typing import Any

import pytest

from fhirserver.errors import Unprocessable
from fhirserver.identity.status import CS_IDENTITY_STATUS, EXT_IDENTITY_RELIABILITY
from fhirserver.integrations.mssante.message import (
    Outgoing,
    SubjectIdentity,
    build_error_reply,
    build_message,
    message_id,
    patient_mailbox,
)

SENDER = "dui@ehpad-les-tilleuls.mssante.fr"
IDENTITY = SubjectIdentity("Projet personnalisé d'accompagnement", "Pat-Trois", "Dominique", "1979-03-28")


def _outgoing(rendition: bytes | None = b"%PDF-1.7 test") -> Outgoing:
    return Outgoing("1.2.250.1.999.1^42", b"PK\x03\x04 zip", rendition, "20260101_Projet.pdf", IDENTITY)


def _patient(status: str | None) -> dict[str, Any]:
    patient: dict[str, Any] = {"resourceType": "Patient", "id": "p1", "identifier": [
        {"system": "urn:oid:1.2.250.1.213.1.4.10", "value": "279035121518989"}]}
    if status:
        patient["extension"] = [{"url": EXT_IDENTITY_RELIABILITY, "extension": [
            {"url": "identityStatus", "valueCoding": {"system": CS_IDENTITY_STATUS, "code": status}}]}]
    return patient


def test_message_headers_subject_and_attachments() -> None:
    """From/To, the XDM/1.0/DDM subject naming the usager, a French body, IHE_XDM.ZIP then the PDF."""
    msg = build_message(_outgoing(), sender=SENDER, to="dr.martin@hopital.mssante.fr",
                        notification_to=SENDER, no_reply=True)
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    assert parsed["Subject"] == "XDM/1.0/DDM+Projet personnalisé d'accompagnement PAT-TROIS Dominique 28/03/1979"
    assert parsed["From"] == SENDER and parsed["To"] == "dr.martin@hopital.mssante.fr"
    assert parsed["Disposition-Notification-To"] == SENDER and parsed["X-MSS-MES"] == "FIN"
    body = parsed.get_body(("plain",))
    assert body is not None and "Veuillez trouver ci-joint" in body.get_content()
    attachments = [(a.get_content_type(), a.get_filename(), a.get_payload(decode=True))
                   for a in parsed.iter_attachments()]
    assert attachments == [("application/zip", "IHE_XDM.ZIP", b"PK\x03\x04 zip"),
                           ("application/pdf", "20260101_Projet.pdf", b"%PDF-1.7 test")]


def test_message_id_is_stable_per_document_and_sender() -> None:
    """The same document from the same sender always gets the same Message-ID; another document another one."""
    first = build_message(_outgoing(), sender=SENDER, to="a@b.mssante.fr")
    again = build_message(_outgoing(None), sender=SENDER, to="c@d.mssante.fr")
    assert first["Message-ID"] == again["Message-ID"] == message_id("1.2.250.1.999.1^42", SENDER)
    assert first["Message-ID"].endswith("@ehpad-les-tilleuls.mssante.fr>")
    assert message_id("1.2.250.1.999.1^43", SENDER) != first["Message-ID"]
    assert "Disposition-Notification-To" not in first and "X-MSS-MES" not in first


def test_bad_addresses_are_refused() -> None:
    """A recipient that is not an address is a ValueError naming it."""
    with pytest.raises(ValueError, match="recipient 'dr martin'"):
        build_message(_outgoing(), sender=SENDER, to="dr martin")


def test_patient_mailbox_only_for_a_qualified_identity() -> None:
    """<INS>@patient.mssante.fr for a qualified identity; 422 for a provisional one or without status."""
    assert patient_mailbox(_patient("QUAL")) == "279035121518989@patient.mssante.fr"
    for status in ("PROV", "VALI", None):
        with pytest.raises(Unprocessable, match="only a qualified identity"):
            patient_mailbox(_patient(status))


def test_error_reply_follows_the_ans_standard_notification() -> None:
    """To the original sender, [KO Intégration système !][902] subject, In-Reply-To, the code and label in the
    body, the original attachments and the original message enclosed."""
    original = build_message(_outgoing(), sender="labo@charmes.mssante.fr", to=SENDER)
    reply = build_error_reply(original, sender=SENDER, code="902", identity=IDENTITY, detail="no usager")
    parsed = email.message_from_bytes(reply.as_bytes(), policy=email.policy.default)
    assert parsed["To"] == "labo@charmes.mssante.fr"
    assert parsed["Subject"] == ("[KO Intégration système !][902] XDM/1.0/DDM+Projet personnalisé "
                                 "d'accompagnement PAT-TROIS Dominique 28/03/1979")
    assert parsed["In-Reply-To"] == original["Message-ID"]
    body = parsed.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "Identifiant patient inconnu" in text and "Code d'erreur : 902" in text
    kinds = [(a.get_content_type(), a.get_filename()) for a in parsed.iter_attachments()]
    assert kinds == [("application/zip", "IHE_XDM.ZIP"), ("application/pdf", "20260101_Projet.pdf"),
                     ("message/rfc822", "message_original.eml")]
