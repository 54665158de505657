"""The ``fr-core-identity-reliability`` extension read and written in full: status **and** evidence.

:mod:`fhirserver.identity.status` maps the ``identityStatus`` coding alone. FR Core 2.1 has no code for
*récupérée* and *validée*, so a 2.1 coding alone cannot carry the four RNIV statuses. This module derives the
status from the coding **plus the evidence sub-extensions**, which both FR Core versions define, so that the
four statuses survive a round trip in either version:

==========  ================================================  ================================================
Status      FR Core 2.2 (``fr-core-cs-identity-status``)      FR Core 2.1 (``fr-core-cs-v2-0445``)
==========  ================================================  ================================================
provisoire  ``PROV``                                          ``PROV``, no INSi date, no validation mode
récupérée   ``RECUP`` + ``dateInterrogationINSi``             ``PROV`` + ``dateCollection`` (INSi queried), an
                                                              INS identifier present, no validation mode
validée     ``VALI`` + ``validationMode`` (+ date)            ``PROV`` + ``validationMode`` (document checked),
                                                              no INSi date
qualifiée   ``QUAL`` (+ evidence when known)                  ``VALI`` (+ evidence when known)
==========  ================================================  ================================================

Sources: FR Core 2.2 ``input/fsh/extensions/FRCorePatientIdentityReliabilityExtension.fsh`` (sub-extensions
``methodCollection``, ``dateInterrogationINSi``, ``identityStatus``, ``comment``, ``validationDate``,
``validationMode``); FR Core 2.0.1 / 2.1.0 published definitions
(https://hl7.fr/ig/fhir/core/2.0.1/StructureDefinition-fr-core-identity-reliability-definitions.html, and the
2.1.0 package page on packages2.fhir.org, same description and slices): the INSi date is named
``dateCollection`` there ("date d'interrogation du téléservice INSi"). Both names are read; the configured
version's name is written.

Reading rules (either version is accepted on input):

* 2.2 coding: the code is the status; evidence is kept as sent.
* 2.1 ``VALI``: qualified. 2.1 ``PROV``: provisional, *unless* evidence says otherwise: an INSi date together
  with an INS identifier on the Patient => récupérée; a validation mode => validée; both => refused as
  ambiguous (a qualified identity is coded ``VALI`` in 2.1). Every other table 0445 code (``DOUT``, ``FICT``,
  ``VIDE``...) is provisional whatever the evidence.
* No ``identityStatus``: provisional.
* ``DOUT`` / ``FICT`` in ``comment`` force provisional (FR Core 2.2 invariant fr-core-identity-reliability-1).

Writing rules (:func:`normalize`): one extension, in the configured version, whose evidence matches the status:
the INSi date only when the INSi criterion holds (récupérée, qualifiée), the validation mode and date only when
the document criterion holds (validée, qualifiée). A récupérée identity must have an INSi date and a validée
one a validation mode, otherwise the status could not be written in FR Core 2.1 (:func:`evidence_problems`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from fhirserver.identity.ins import is_ins_system
from fhirserver.identity.status import (
    CS_IDENTITY_STATUS_COMMENT,
    CS_V2_0445,
    EXT_IDENTITY_RELIABILITY,
    IdentityStatus,
    IdentityStatusError,
    normalize_version,
    status_coding,
    status_from_coding,
)

__all__ = [
    "CS_METHOD_COLLECTION",
    "CS_VALIDATION_MODE",
    "VALIDATION_MODES",
    "Reliability",
    "evidence_problems",
    "normalize",
    "read_reliability",
    "read_status",
    "to_extension",
]

_CS_V2_0445_LEGACY = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-v2-0445"
#: ``methodCollection`` codes (FRCoreCodeSystemIdentityMethodCollection.fsh: SM, CV, INSI, CB, RFID, AV).
CS_METHOD_COLLECTION = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-method-collection"
#: ``validationMode`` codes: the high-trust identity documents (FRCoreCodeSystemIdentityModeValidation.fsh).
CS_VALIDATION_MODE = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-mode-validation-identity"
VALIDATION_MODES: dict[str, str] = {
    "CN": "Carte nationale d'identité",
    "PA": "Passeport",
    "CS": "Carte de séjour",
    "eCN": "e-carte d'identité",
    "IN": "Identité Numérique La Poste",
    "AV": "Application Carte Vitale",
    "LECV": "Livret de famille, accompagné de la carte Vitale avec photographie",
    "AN": "Extrait d'acte de naissance",
    "LEP": "Livret de famille des parents",
    "CC": "Carnet de circulation",
    "ANCV": "Acte de naissance, accompagné de la carte Vitale avec photographie",
}
_DATE_SUBS = ("dateInterrogationINSi", "dateCollection")  # 2.2 name, 2.1 name
#: FR Core 2.2 ``fr-core-cs-identity-status-comment`` codes also found in table 0445 (french-interop.md §1.2)
_COMMENT_CODES_22 = frozenset({"DOUT", "FICT", "HOMD", "HOMA", "DESA", "DOUA"})
_KNOWN = {"identityStatus", "methodCollection", "validationDate", "validationMode", "comment", *_DATE_SUBS}


@dataclass(frozen=True)
class Reliability:
    """One identity's RNIV status and the evidence the extension carries."""

    status: IdentityStatus
    method_collection: dict[str, Any] | None = None
    insi_date: str | None = None
    validation_mode: dict[str, Any] | None = None
    validation_date: str | None = None
    #: ``comment`` sub-extensions, kept as received (attributes DOUT, FICT, HOMD...)
    comments: tuple[dict[str, Any], ...] = ()
    #: unknown sub-extensions, kept as received (the slicing is open)
    extra: tuple[dict[str, Any], ...] = ()
    #: the code the sender used (e.g. 2.1 DOUT), for messages
    declared_code: str | None = field(default=None, compare=False)
    #: a FR Core 2.1 table 0445 code other than PROV / VALI sent as identityStatus (DOUT, FICT, HOMD...): an
    #: attribute of a provisional identity, kept on the wire (2.1: as the status code; 2.2: as a ``comment``)
    attribute: str | None = None


def _subs(ext: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [s for s in ext.get("extension") or [] if isinstance(s, Mapping)]


def _comment_flags(comments: tuple[dict[str, Any], ...]) -> set[str]:
    flags: set[str] = set()
    for sub in comments:
        concept = sub.get("valueCodeableConcept")
        codings = concept.get("coding") if isinstance(concept, Mapping) else None
        if isinstance(sub.get("valueCoding"), Mapping):
            codings = [sub["valueCoding"]]
        for c in codings or []:
            if isinstance(c, Mapping) and c.get("system") in (CS_IDENTITY_STATUS_COMMENT, CS_V2_0445):
                flags.add(str(c.get("code")))
    return flags


def _parse(ext: Mapping[str, Any], has_ins: bool) -> Reliability:
    subs = _subs(ext)
    statuses = [s for s in subs if s.get("url") == "identityStatus"]
    if len(statuses) > 1:
        raise IdentityStatusError(f"identity-reliability extension holds {len(statuses)} identityStatus, at most 1")
    dates = [s.get("valueDate") for s in subs if s.get("url") in _DATE_SUBS]
    insi_date = next((d for d in dates if isinstance(d, str)), None)

    def coding(name: str) -> dict[str, Any] | None:
        found = next((s.get("valueCoding") for s in subs if s.get("url") == name), None)
        return dict(found) if isinstance(found, Mapping) else None

    validation_date = next((s.get("valueDate") for s in subs if s.get("url") == "validationDate"), None)
    rel = Reliability(
        status=IdentityStatus.PROVISIONAL,
        method_collection=coding("methodCollection"),
        insi_date=insi_date,
        validation_mode=coding("validationMode"),
        validation_date=validation_date if isinstance(validation_date, str) else None,
        comments=tuple(dict(s) for s in subs if s.get("url") == "comment"),
        extra=tuple(dict(s) for s in subs if s.get("url") not in _KNOWN),
    )
    status = IdentityStatus.PROVISIONAL
    code = None
    if statuses:
        value = statuses[0].get("valueCoding")
        if not isinstance(value, Mapping):
            raise IdentityStatusError("identityStatus has no valueCoding")
        status = status_from_coding(value)
        code = str(value.get("code"))
        if value.get("system") in (CS_V2_0445, _CS_V2_0445_LEGACY) and code == "PROV":
            insi = insi_date is not None and has_ins
            document = rel.validation_mode is not None
            if insi and document:
                raise IdentityStatusError(
                    "FR Core 2.1 identityStatus PROV with both an INSi interrogation date and a validation mode is "
                    "ambiguous: a qualified identity is coded VALI in fr-core-cs-v2-0445")
            if insi:
                status = IdentityStatus.RECOVERED
            elif document:
                status = IdentityStatus.VALIDATED
        elif value.get("system") in (CS_V2_0445, _CS_V2_0445_LEGACY) and code != "VALI":
            rel = replace(rel, attribute=code)
    flags = (_comment_flags(rel.comments) | {rel.attribute or ""}) & {"DOUT", "FICT"}
    if flags and status is not IdentityStatus.PROVISIONAL:
        raise IdentityStatusError(
            f"an identity flagged {'/'.join(sorted(flags))} (doubtful / fictitious) must be provisional, "
            f"not {status.label_fr.lower()}")
    return replace(rel, status=status, declared_code=code)


def _has_ins(patient: Mapping[str, Any]) -> bool:
    return any(isinstance(i, Mapping) and is_ins_system(i.get("system")) for i in patient.get("identifier") or [])


def read_reliability(patient: Mapping[str, Any]) -> Reliability | None:
    """The identity status and evidence of ``patient`` (None when it has no identity-reliability extension).

    Several extensions (``fr-core-patient-ins`` allows 1..*) must agree on the status; their evidence is merged
    (first value wins). Raises :class:`IdentityStatusError` (a ValueError) when unreadable or inconsistent.
    """
    has_ins = _has_ins(patient)
    found = [_parse(ext, has_ins) for ext in patient.get("extension") or []
             if isinstance(ext, Mapping) and ext.get("url") == EXT_IDENTITY_RELIABILITY]
    if not found:
        return None
    statuses = {r.status for r in found}
    if len(statuses) > 1:
        raise IdentityStatusError("the identity-reliability extensions disagree: "
                                  + ", ".join(sorted(s.value for s in statuses)))
    merged = found[0]
    for other in found[1:]:
        merged = replace(
            merged,
            method_collection=merged.method_collection or other.method_collection,
            insi_date=merged.insi_date or other.insi_date,
            validation_mode=merged.validation_mode or other.validation_mode,
            validation_date=merged.validation_date or other.validation_date,
            comments=merged.comments + tuple(c for c in other.comments if c not in merged.comments),
            extra=merged.extra + tuple(e for e in other.extra if e not in merged.extra),
        )
    return merged


def read_status(patient: Mapping[str, Any]) -> IdentityStatus | None:
    """The RNIV status of ``patient`` (None without an identity-reliability extension)."""
    rel = read_reliability(patient)
    return rel.status if rel else None


def evidence_problems(rel: Reliability) -> list[str]:
    """What a status lacks to be written faithfully in both FR Core versions (empty when fine)."""
    problems = []
    if rel.status is IdentityStatus.RECOVERED and not rel.insi_date:
        problems.append("a 'récupérée' identity must state when the INSi teleservice was queried "
                        "(sub-extension dateInterrogationINSi, dateCollection in FR Core 2.1)")
    if rel.status is IdentityStatus.VALIDATED and not rel.validation_mode:
        problems.append("a 'validée' identity must state which identity document was checked "
                        "(sub-extension validationMode, fr-core-vs-mode-validation-identity)")
    return problems


def consistent(rel: Reliability) -> Reliability:
    """``rel`` without the evidence its status does not rest on (after a downgrade, or sent with a lower
    status): the INSi date goes without the INSi criterion, the validation mode/date without the document one."""
    out = rel
    if not rel.status.insi_retrieved:
        out = replace(out, insi_date=None)
    if not rel.status.document_checked:
        out = replace(out, validation_mode=None, validation_date=None)
    return out


def to_extension(rel: Reliability, version: str) -> dict[str, Any]:
    """The extension for ``rel`` in FR Core ``version`` ("2.1" or "2.2"); see the module docstring."""
    v = normalize_version(version)
    rel = consistent(rel)
    comments = list(rel.comments)
    if v == "2.2":
        coding = status_coding(rel.status, "2.2")
        if rel.attribute and rel.attribute not in _comment_flags(rel.comments):
            system = CS_IDENTITY_STATUS_COMMENT if rel.attribute in _COMMENT_CODES_22 else CS_V2_0445
            comments.append({"url": "comment", "valueCodeableConcept": {
                "coding": [{"system": system, "code": rel.attribute}]}})
    elif rel.status is IdentityStatus.PROVISIONAL and rel.attribute:
        coding = {"system": CS_V2_0445, "code": rel.attribute}
    else:
        qualified = rel.status is IdentityStatus.QUALIFIED
        coding = status_coding(IdentityStatus.QUALIFIED if qualified else IdentityStatus.PROVISIONAL, "2.1")
    subs: list[dict[str, Any]] = []
    if rel.method_collection:
        subs.append({"url": "methodCollection", "valueCoding": rel.method_collection})
    if rel.insi_date:
        subs.append({"url": "dateInterrogationINSi" if v == "2.2" else "dateCollection", "valueDate": rel.insi_date})
    subs.append({"url": "identityStatus", "valueCoding": coding})
    subs.extend(comments)
    if rel.validation_date:
        subs.append({"url": "validationDate", "valueDate": rel.validation_date})
    if rel.validation_mode:
        subs.append({"url": "validationMode", "valueCoding": rel.validation_mode})
    subs.extend(rel.extra)
    return {"url": EXT_IDENTITY_RELIABILITY, "extension": subs}


def normalize(patient: Mapping[str, Any], rel: Reliability, version: str) -> dict[str, Any]:
    """A copy of ``patient`` whose identity-reliability extensions are replaced by one extension for ``rel``
    in FR Core ``version`` (at the place of the first one, or appended)."""
    out = dict(patient)
    extensions: list[Any] = []
    placed = False
    for ext in patient.get("extension") or []:
        if isinstance(ext, Mapping) and ext.get("url") == EXT_IDENTITY_RELIABILITY:
            if not placed:
                extensions.append(to_extension(rel, version))
                placed = True
            continue
        extensions.append(ext)
    if not placed:
        extensions.append(to_extension(rel, version))
    out["extension"] = extensions
    return out
