"""VIHF 4.0: the SAML 2.0 assertion that identifies the actor in the WS-Security header of every DMP call.

Spec: ANS CI-SIS, *Volet Transport Synchrone pour Client Lourd* (VIHF — Vecteur d'Identification et d'Habilitation
Formelles), summarised in french-interop.md §6.3; OASIS SAML 2.0 Core; XML-DSig (enveloped, RSA-SHA256,
exclusive c14n). The assertion is signed with the structure's *certificat de cachet* (IGC Santé) given by the
settings ``[dmp] certificate_file`` / ``key_file``; when they are empty a self-signed certificate is generated
once per process — which only the sandbox accepts.

:func:`verify_assertion` is the receiving side (the sandbox): signature, validity window and mandatory attributes.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import (
    CanonicalizationMethod,
    DigestAlgorithm,
    InvalidCertificate,
    InvalidDigest,
    InvalidInput,
    InvalidSignature,
    SignatureConfiguration,
    SignatureMethod,
    XMLSigner,
    XMLVerifier,
    methods,
)

from fhirserver.integrations.dmp.client import Actor, Ins
from fhirserver.settings import Settings

SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
HL7 = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
X509_SUBJECT = "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"
SENDER_VOUCHES = "urn:oasis:names:tc:SAML:2.0:cm:sender-vouches"
AUTHN_CLASS = "urn:oasis:names:tc:SAML:2.0:ac:classes:X509"

SUBJECT_ID = "urn:oasis:names:tc:xspa:1.0:subject:subject-id"
ROLE = "urn:oasis:names:tc:xacml:2.0:subject:role"
PURPOSE = "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse"
RESOURCE_ID = "urn:oasis:names:tc:xacml:2.0:resource:resource-id"
PURPOSE_SYSTEM = "1.2.250.1.213.1.1.4.248"
#: attributes every DMP call must carry (french-interop.md §6.3; LPS_* are optional)
MANDATORY = ("VIHF_Version", "Identifiant_Structure", "Secteur_Activite", SUBJECT_ID, ROLE, PURPOSE,
             "Authentification_Mode", RESOURCE_ID, "Ressource_URN")
VALIDITY = dt.timedelta(minutes=5)
_N = {"saml2": SAML, "ds": DS, "hl7": HL7}


class VihfError(Exception):
    """The assertion is missing, malformed, badly signed or incomplete; ``code`` names the WS-Security fault."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Signer:
    """The key and certificate that sign the assertion."""

    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    @property
    def issuer(self) -> str:
        return self.cert.subject.rfc4514_string()

    def cert_pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


@dataclass(frozen=True)
class Lps:
    """The software (LPS) identification the DMP homologation asks for."""

    id: str = ""
    name: str = ""
    version: str = ""
    homologation: str = ""


@dataclass(frozen=True)
class Claims:
    """What a verified assertion says: issuer, subject and attributes (values as text; CE values as codes)."""

    issuer: str
    name_id: str
    attributes: dict[str, tuple[str, ...]]

    def first(self, name: str) -> str:
        values = self.attributes.get(name, ())
        return values[0] if values else ""


def load_signer(settings: Settings) -> Signer:
    """The structure's certificate from the settings, or the per-process self-signed one when none is set."""
    if not settings.dmp.certificate_file and not settings.dmp.key_file:
        return self_signed()
    if not settings.dmp.certificate_file or not settings.dmp.key_file:
        raise ValueError("settings [dmp] certificate_file and key_file must be given together")
    cert = x509.load_pem_x509_certificate(Path(settings.dmp.certificate_file).read_bytes())
    key = serialization.load_pem_private_key(Path(settings.dmp.key_file).read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("settings [dmp] key_file: an RSA private key is expected (RSA-SHA256 signature)")
    return Signer(key, cert)


@functools.cache
def self_signed() -> Signer:
    """The self-signed certificate of this process, generated on first use (sandbox use only)."""
    return generate_self_signed()


def generate_self_signed() -> Signer:
    """A new self-signed RSA 2048 certificate valid for a year."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "DUI server"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "DUI server self-signed VIHF (sandbox only)")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return Signer(key, cert)


def _instant(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrib: str) -> etree._Element:
    el = etree.SubElement(parent, tag, attrib)
    if text is not None:
        el.text = text
    return el


def _attribute(statement: etree._Element, name: str, values: Sequence[str | etree._Element]) -> None:
    attr = _sub(statement, f"{{{SAML}}}Attribute", Name=name)
    for value in values:
        holder = _sub(attr, f"{{{SAML}}}AttributeValue")
        if isinstance(value, str):
            holder.text = value
        else:
            holder.append(value)


def _ce(tag: str, code: str, system: str, display: str = "") -> etree._Element:
    el = etree.Element(f"{{{HL7}}}{tag}", nsmap={None: HL7, "xsi": XSI})
    el.set(f"{{{XSI}}}type", "CE")
    el.set("code", code)
    el.set("codeSystem", system)
    if display:
        el.set("displayName", display)
    return el


def build_assertion(actor: Actor, ins: Ins, signer: Signer, lps: Lps,
                    now: dt.datetime | None = None) -> etree._Element:
    """The signed VIHF 4.0 assertion for ``actor`` acting on the DMP of ``ins``."""
    now = now or dt.datetime.now(dt.UTC)
    assertion_id = "_" + uuid.uuid4().hex
    root = etree.Element(f"{{{SAML}}}Assertion", nsmap={"saml2": SAML},
                         ID=assertion_id, IssueInstant=_instant(now), Version="2.0")
    _sub(root, f"{{{SAML}}}Issuer", signer.issuer, Format=X509_SUBJECT)
    etree.SubElement(root, f"{{{DS}}}Signature", {"Id": "placeholder"}, nsmap={"ds": DS})
    subject = _sub(root, f"{{{SAML}}}Subject")
    _sub(subject, f"{{{SAML}}}NameID", actor.id,
         Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified")
    _sub(subject, f"{{{SAML}}}SubjectConfirmation", Method=SENDER_VOUCHES)
    _sub(root, f"{{{SAML}}}Conditions", NotBefore=_instant(now - dt.timedelta(seconds=30)),
         NotOnOrAfter=_instant(now + VALIDITY))
    authn = _sub(root, f"{{{SAML}}}AuthnStatement", AuthnInstant=_instant(now))
    _sub(_sub(authn, f"{{{SAML}}}AuthnContext"), f"{{{SAML}}}AuthnContextClassRef", AUTHN_CLASS)
    statement = _sub(root, f"{{{SAML}}}AttributeStatement")
    _attribute(statement, "VIHF_Version", ["4.0"])
    _attribute(statement, "Identifiant_Structure", [actor.structure_id])
    _attribute(statement, "Secteur_Activite", [actor.sector])
    _attribute(statement, SUBJECT_ID, [actor.name])
    _attribute(statement, ROLE, [_ce("Role", code, system, display) for code, system, display in actor.roles])
    _attribute(statement, PURPOSE, [_ce("PurposeOfUse", "normal", PURPOSE_SYSTEM, "Accès normal")])
    _attribute(statement, "Authentification_Mode", ["INDIRECTE"])
    _attribute(statement, RESOURCE_ID, [ins.cx()])
    _attribute(statement, "Ressource_URN", ["urn:dmp"])
    for name, value in (("LPS_ID", lps.id), ("LPS_Nom", lps.name), ("LPS_Version", lps.version),
                        ("LPS_ID_HOMOLOGATION_DMP", lps.homologation)):
        if value:
            _attribute(statement, name, [value])
    signed: etree._Element = XMLSigner(
        method=methods.enveloped, signature_algorithm=SignatureMethod.RSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    ).sign(root, key=signer.key, cert=[signer.cert], reference_uri="#" + assertion_id)
    return signed


def _parse_instant(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def verify_assertion(assertion: etree._Element, *, trusted: Sequence[x509.Certificate] = (),
                     now: dt.datetime | None = None) -> Claims:
    """Check a received assertion and return its claims; :class:`VihfError` otherwise.

    The signature is checked with the certificate in its KeyInfo, which must be one of ``trusted`` when given
    (an empty ``trusted`` accepts any certificate — the sandbox's "self-signed accepted" mode). Only the signed
    content is read afterwards (no signature-wrapping).
    """
    if assertion.tag != f"{{{SAML}}}Assertion":
        raise VihfError("wsse:InvalidSecurityToken", "the security header holds no SAML 2.0 assertion")
    certs = assertion.findall("ds:Signature/ds:KeyInfo/ds:X509Data/ds:X509Certificate", _N)
    if len(certs) != 1 or not (certs[0].text or "").strip():
        raise VihfError("wsse:InvalidSecurity", "the VIHF assertion is not signed with an X.509 certificate")
    pem = "-----BEGIN CERTIFICATE-----\n" + "".join((certs[0].text or "").split()) + "\n-----END CERTIFICATE-----\n"
    try:
        cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
    except ValueError as exc:
        raise VihfError("wsse:InvalidSecurity", "the VIHF signing certificate cannot be read") from exc
    if trusted and cert not in trusted:
        raise VihfError("wsse:FailedAuthentication", "the VIHF signing certificate is not trusted")
    standalone = etree.fromstring(etree.tostring(assertion))
    config = SignatureConfiguration(location="./", expect_references=1)
    try:
        result = XMLVerifier().verify(standalone, x509_cert=cert, expect_config=config)
    except (InvalidSignature, InvalidDigest, InvalidCertificate, InvalidInput) as exc:
        raise VihfError("wsse:FailedCheck", f"the VIHF signature does not verify ({type(exc).__name__})") from exc
    signed = result[0].signed_xml if isinstance(result, list) else result.signed_xml
    if signed is None or signed.tag != f"{{{SAML}}}Assertion":
        raise VihfError("wsse:FailedCheck", "the VIHF signature does not cover the assertion")
    moment = now or dt.datetime.now(dt.UTC)
    conditions = signed.find("saml2:Conditions", _N)
    if conditions is not None:
        start = _parse_instant(conditions.get("NotBefore"))
        end = _parse_instant(conditions.get("NotOnOrAfter"))
        if (start and moment < start - dt.timedelta(minutes=1)) or (end and moment >= end):
            raise VihfError("wsse:MessageExpired", "the VIHF assertion is outside its validity window")
    attributes: dict[str, tuple[str, ...]] = {}
    for attr in signed.iterfind("saml2:AttributeStatement/saml2:Attribute", _N):
        values = []
        for value in attr.iterfind("saml2:AttributeValue", _N):
            coded = next(iter(value), None)
            values.append(coded.get("code", "") if coded is not None else (value.text or "").strip())
        attributes[attr.get("Name", "")] = tuple(v for v in values if v)
    missing = [name for name in MANDATORY if not attributes.get(name)]
    if missing:
        raise VihfError("wsse:InvalidSecurityToken", f"VIHF attributes missing: {', '.join(missing)}")
    if attributes["VIHF_Version"][0] != "4.0":
        raise VihfError("wsse:InvalidSecurityToken", "VIHF_Version must be 4.0")
    name_id = signed.findtext("saml2:Subject/saml2:NameID", "", _N).strip()
    if not name_id:
        raise VihfError("wsse:InvalidSecurityToken", "the VIHF assertion has no Subject/NameID")
    return Claims(signed.findtext("saml2:Issuer", "", _N).strip(), name_id, attributes)
