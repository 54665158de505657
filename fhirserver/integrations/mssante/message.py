"""The MSSanté e-mail carrying a CDA document: IHE XDM attachment, subject and header conventions.

Sources (french-interop.md §7): ANS "Volet Échange de documents de santé" (IHE XDM ITI-32 over e-mail: the
``IHE_XDM.ZIP`` attachment beside the readable rendition) and the ANS guide "Transmission de documents CDA par
courriel MSSanté" (``ansforge/IG-hl7v2-volet-trans-lps-doc-cda-courriel-mss``, pages ``struct-email-standard`` and
``error-codes``):

* subject ``XDM/1.0/DDM+<libellé> <NOM> <prénom> <date de naissance>`` (the routing prefix first);
* error notification ``[KO Intégration système !][<code>] XDM/1.0/DDM+<libellé> <NOM> <prénom> <ddn>``, the
  original attachments (IHE_XDM.ZIP, PDF) and the original message attached;
* patient mailbox (Mon espace santé) ``<INS>@patient.mssante.fr``, for a **qualified** identity only;
* ``Disposition-Notification-To`` asks for an MDN (RFC 8098); ``X-MSS-MES: FIN`` tells the usager not to reply.

The Message-ID is derived from the document uniqueId and the sender, so a message sent twice for the same
document (outbox redelivery after a crash) carries the same Message-ID and the receiver can discard the copy.
Pure e-mail building (``email.message.EmailMessage``); nothing is sent here.
"""

from __future__ import annotations

import email.policy
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any

from fhirserver.errors import Issue, Unprocessable
from fhirserver.identity.ins import is_ins_system
from fhirserver.identity.sharing import require_qualified

__all__ = [
    "ERROR_LABELS",
    "PATIENT_DOMAIN",
    "SUBJECT_PREFIX",
    "XDM_FILENAME",
    "Outgoing",
    "SubjectIdentity",
    "build_error_reply",
    "build_mdn",
    "build_message",
    "mdn_address",
    "message_id",
    "patient_mailbox",
    "subject_for",
]

SUBJECT_PREFIX = "XDM/1.0/DDM"
ERROR_PREFIX = "[KO Intégration système !]"
PATIENT_DOMAIN = "patient.mssante.fr"
XDM_FILENAME = "IHE_XDM.ZIP"

#: business error codes of the ANS guide (page error-codes, table of the CONSOMMATEUR), French labels
ERROR_LABELS = {
    "902": "Identifiant patient inconnu",
    "903": "INS non présent dans le document",
    "904": "L'INS transmis ne correspond pas exactement à celui stocké dans la base du consommateur",
    "905": "L'INS transmis n'est pas complet",
    "906": "Erreur 'Autre'",
}

#: RFC 5322 line limit (998) instead of the 78 recommended: Python's folder would otherwise move a long subject to
#: a continuation line ("Subject:\r\n XDM/1.0/DDM+…"), and receivers that do not strip the folding white space
#: would no longer see the routing prefix first. CRLF line ends (SMTP).
POLICY = email.policy.SMTP.clone(max_line_length=998)

_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


@dataclass(frozen=True)
class SubjectIdentity:
    """What the subject line names: the document label and the usager (birth family name, first given name,
    birth date ``YYYY-MM-DD``)."""

    label: str
    family: str | None = None
    given: str | None = None
    birth_date: str | None = None


@dataclass(frozen=True)
class Outgoing:
    """One document to send: the CDA uniqueId, the IHE_XDM.ZIP bytes and the readable rendition (the N1 body:
    PDF, or JPEG / TIFF / RTF / text, ``rendition_type``)."""

    unique_id: str
    xdm_zip: bytes
    rendition: bytes | None
    rendition_filename: str
    identity: SubjectIdentity
    rendition_type: str = "application/pdf"


def _check_address(address: str, what: str) -> str:
    address = address.strip()
    if not _ADDRESS.match(address):
        raise ValueError(f"{what} {address!r} is not an e-mail address")
    return address


def patient_mailbox(patient: Mapping[str, Any]) -> str:
    """The Mon espace santé mailbox ``<INS>@patient.mssante.fr`` of ``patient``.

    Refused (:class:`~fhirserver.errors.Unprocessable`, 422) unless the identity is qualified (the INS matricule
    leaves the system only with a qualified identity, :mod:`fhirserver.identity.sharing`), and when the Patient
    carries no INS.
    """
    require_qualified(patient, "MSSanté patient mailbox")
    for identifier in patient.get("identifier") or []:
        if isinstance(identifier, Mapping) and is_ins_system(identifier.get("system")):
            value = str(identifier.get("value") or "").strip()
            if value:
                return f"{value}@{PATIENT_DOMAIN}"
    message = "the Patient has no INS: no Mon espace santé mailbox"
    raise Unprocessable(message, [Issue(message, code="business-rule", expression=("Patient.identifier",))])


def message_id(unique_id: str, sender: str, purpose: str = "document") -> str:
    """A Message-ID stable for (document, sender, purpose): ``<hex@sender-domain>``."""
    domain = sender.rpartition("@")[2] or "localhost"
    digest = hashlib.sha256(f"{purpose}\n{sender}\n{unique_id}".encode()).hexdigest()[:32]
    return f"<{digest}.{purpose}@{domain}>"


def _french_date(value: str | None) -> str:
    if value and re.match(r"^\d{4}-\d{2}-\d{2}$", value):
        return f"{value[8:10]}/{value[5:7]}/{value[0:4]}"
    return value or ""


def subject_for(identity: SubjectIdentity) -> str:
    """``XDM/1.0/DDM+<libellé> <NOM> <prénom> <ddn>`` (the parts that are known, one line)."""
    parts = [identity.label.strip(), (identity.family or "").upper(), identity.given or "",
             _french_date(identity.birth_date)]
    return " ".join(f"{SUBJECT_PREFIX}+{' '.join(p for p in parts if p)}".split())


def _attach_documents(msg: EmailMessage, outgoing: Outgoing) -> None:
    msg.add_attachment(outgoing.xdm_zip, maintype="application", subtype="zip", filename=XDM_FILENAME)
    if outgoing.rendition is not None:
        maintype, _, subtype = outgoing.rendition_type.partition("/")
        msg.add_attachment(outgoing.rendition, maintype=maintype, subtype=subtype,
                           filename=outgoing.rendition_filename)


def build_message(outgoing: Outgoing, *, sender: str, to: str, notification_to: str | None = None,
                  no_reply: bool = False, date: float | None = None) -> EmailMessage:
    """The e-mail carrying one document: text body in French, ``IHE_XDM.ZIP`` and the rendition attached."""
    msg = EmailMessage(policy=POLICY)
    msg["From"] = _check_address(sender, "sender (mssante.sender)")
    msg["To"] = _check_address(to, "recipient")
    msg["Subject"] = subject_for(outgoing.identity)
    msg["Date"] = formatdate(date, localtime=False)
    msg["Message-ID"] = message_id(outgoing.unique_id, sender)
    if notification_to:
        msg["Disposition-Notification-To"] = _check_address(notification_to, "Disposition-Notification-To")
    if no_reply:
        msg["X-MSS-MES"] = "FIN"
    msg.set_content(
        "Bonjour,\n\n"
        f"Veuillez trouver ci-joint le document « {outgoing.identity.label} ».\n\n"
        f"La pièce jointe {XDM_FILENAME} contient le document CDA et ses métadonnées (IHE XDM) pour une "
        "intégration automatique dans votre logiciel ; "
        + (f"le fichier {outgoing.rendition_filename} en est la version lisible.\n\n"
           if outgoing.rendition is not None else "\n\n")
        + "Ce message a été envoyé par la messagerie sécurisée de santé (MSSanté).\n\nCordialement.\n")
    _attach_documents(msg, outgoing)
    return msg


def _attachment(data: bytes, content_type: str, filename: str) -> EmailMessage:
    part = EmailMessage(policy=POLICY)
    maintype, _, subtype = content_type.partition("/")
    part.set_content(data, maintype=maintype, subtype=subtype, disposition="attachment", filename=filename)
    return part


def _original_attachments(original: EmailMessage) -> list[EmailMessage]:
    parts = []
    for part in original.iter_attachments():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            parts.append(_attachment(payload, part.get_content_type(), part.get_filename() or "piece-jointe"))
    return parts


def _error_text(code: str, detail: str | None) -> str:
    text = ("Bonjour,\n\n"
            "Le document envoyé n'a pas pu être intégré automatiquement dans le dossier de l'usager pour la raison "
            "suivante :\n\n"
            f"- Erreur détectée : {ERROR_LABELS.get(code, ERROR_LABELS['906'])}\n- Code d'erreur : {code}\n")
    if detail:
        text += f"- Détail : {detail}\n"
    return text + ("\nVous trouverez en pièce jointe le message d'origine et ses fichiers (archive IHE_XDM.ZIP et "
                   "PDF).\nVeuillez vérifier les informations transmises et renvoyer le document après correction."
                   "\n\nCordialement.\n")


def _reply_headers(msg: EmailMessage, original: EmailMessage, *, sender: str, to: str, subject: str,
                   purpose: str) -> None:
    msg["From"] = _check_address(sender, "sender (mssante.sender)")
    msg["To"] = _check_address(to, "sender of the received message")
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    original_id = str(original.get("Message-ID") or "").strip()
    if original_id:
        msg["In-Reply-To"] = original_id
        msg["References"] = original_id
        msg["Message-ID"] = message_id(original_id, sender, purpose=purpose)
    else:
        msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)


def mdn_address(original: EmailMessage) -> str | None:
    """The ``Disposition-Notification-To`` address when an MDN may be sent automatically: RFC 8098 §2.1 — not
    when it differs from the ``Return-Path`` (loop prevention; a human would have to confirm)."""
    requested = parseaddr(str(original.get("Disposition-Notification-To") or ""))[1]
    if not requested or not _ADDRESS.match(requested):
        return None
    return_path = parseaddr(str(original.get("Return-Path") or ""))[1]
    if return_path and return_path.lower() != requested.lower():
        return None
    return requested


def build_mdn(original: EmailMessage, *, sender: str, identity: SubjectIdentity, code: str | None = None,
              detail: str | None = None) -> EmailMessage:
    """The message disposition notification (RFC 8098, ANS page struct-msg-mdn) answering ``original``:
    ``multipart/report`` with a French text, the ``message/disposition-notification`` part (``processed``, or
    ``processed/Error: <code>^<libellé>``), the original message and its attachments. Sent to the address of
    ``Disposition-Notification-To``."""
    to = mdn_address(original)
    if to is None:
        raise ValueError("the received message asks for no MDN that may be sent automatically")
    subject = subject_for(identity)
    if code:
        subject = f"{ERROR_PREFIX}[{code}] {subject}"
    mdn = EmailMessage(policy=POLICY)
    _reply_headers(mdn, original, sender=sender, to=to, subject=subject, purpose=f"mdn{code or 'ok'}")
    mdn["MIME-Version"] = "1.0"
    mdn["Content-Type"] = "multipart/report; report-type=disposition-notification"
    text = EmailMessage(policy=POLICY)
    text.set_content(_error_text(code, detail) if code else
                     "Bonjour,\n\nLe document envoyé a été intégré automatiquement dans le dossier de l'usager."
                     "\n\nCordialement.\n")
    disposition = "automatic-action/MDN-sent-automatically; processed"
    if code:
        disposition += f"/Error: {code}^{ERROR_LABELS.get(code, ERROR_LABELS['906'])}"
    fields = [f"Reporting-UA: {sender.rpartition('@')[2]}; DUI server", f"Final-Recipient: rfc822; {sender}"]
    if original_recipient := str(original.get("Original-Recipient") or "").strip():
        fields.append(f"Original-Recipient: {original_recipient}")
    if original_id := str(original.get("Message-ID") or "").strip():
        fields.append(f"Original-Message-ID: {original_id}")
    fields.append(f"Disposition: {disposition}")
    report = EmailMessage(policy=POLICY)
    report["Content-Type"] = "message/disposition-notification"
    report["Content-Transfer-Encoding"] = "8bit"
    report.set_payload("\r\n".join(fields) + "\r\n", charset=None)
    enclosed = EmailMessage(policy=POLICY)
    enclosed.set_content(original, disposition="attachment", filename="message_original.eml")
    for part in (text, report, enclosed, *_original_attachments(original)):
        mdn.attach(part)
    return mdn


def build_error_reply(original: EmailMessage, *, sender: str, code: str, identity: SubjectIdentity,
                      detail: str | None = None) -> EmailMessage:
    """The standard error notification (page struct-email-standard, for a message that asks for no MDN)
    answering ``original``: sent to its sender, subject ``[KO Intégration système !][code] XDM/1.0/DDM+…``, the
    original message and its attachments enclosed."""
    reply = EmailMessage(policy=POLICY)
    _reply_headers(reply, original, sender=sender, to=str(original.get("Reply-To") or original.get("From") or ""),
                   subject=f"{ERROR_PREFIX}[{code}] {subject_for(identity)}", purpose=f"ko{code}")
    reply["X-MSS-MES"] = "FIN"
    reply.set_content(_error_text(code, detail))
    for part in _original_attachments(original):
        reply.add_attachment(part.get_payload(decode=True), maintype=part.get_content_maintype(),
                             subtype=part.get_content_subtype(), filename=part.get_filename())
    reply.add_attachment(original, filename="message_original.eml")
    return reply
