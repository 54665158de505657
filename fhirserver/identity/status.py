"""RNIV identity statuses and their FR Core wire form (pure functions, no framework).

The référentiel national d'identitovigilance (RNIV, exigence [EXI SI 07]) gives every digital identity exactly one
of four confidence statuses, the product of two independent criteria: were the traits retrieved from the INSi
teleservice, and were they checked against a high-trust identity document? (FR Core 2.2 CodeSystem
``fr-core-cs-identity-status``, ``Interop-Sante/hl7.fhir.fr.core:input/fsh/codesystems/FRCoreCodeSystemIdentityStatus.fsh``.)

============  =====================  ==============  ===================  ===========  ======================
Status        RNIV label             INSi retrieved  document checked     FR Core 2.2  FR Core 2.1 (v2-0445)
============  =====================  ==============  ===================  ===========  ======================
provisional   Identité provisoire    no              no                   ``PROV``     ``PROV``
recovered     Identité récupérée     yes             no                   ``RECUP``    none -> ``PROV``
validated     Identité validée       no              yes                  ``VALI``     none -> ``PROV``
qualified     Identité qualifiée     yes             yes                  ``QUAL``     ``VALI``
============  =====================  ==============  ===================  ===========  ======================

**The "VALI" trap** (french-interop.md §0, §1.2, §12.1): FR Core 2.1.0 carries the status with the HL7 v2 table
0445 code system ``https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0445``, where ``VALI`` is what every
2.1.0-based ANS example (TDDUI, PDSm, CDS, CdL) puts on a patient carrying an INS matricule, i.e. RNIV
*qualifiée*; FR Core 2.2.0 ``https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-identity-status`` has ``VALI`` =
*validée* (document checked, **no** INSi) and ``QUAL`` = *qualifiée*. A bare ``VALI`` is therefore meaningless
without its code system: :func:`status_from_coding` refuses a coding without ``system``, and :func:`to_extension`
never emits 2.1 ``VALI`` for a merely validated identity. FR Core 2.1 has no code for *récupérée* and *validée*:
they are sent as ``PROV`` (the demo data set does the same), a lossy but safe mapping -- pass ``strict=True`` to get
an error instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Literal

__all__ = [
    "ALLOWED_TRANSITIONS",
    "CS_IDENTITY_STATUS",
    "CS_IDENTITY_STATUS_COMMENT",
    "CS_V2_0445",
    "EXT_IDENTITY_RELIABILITY",
    "FrCoreVersion",
    "IdentityStatus",
    "IdentityStatusError",
    "after_document_check",
    "after_insi_retrieval",
    "can_transition",
    "check_transition",
    "downgrade_on_trait_change",
    "from_extension",
    "from_patient",
    "normalize_version",
    "status_coding",
    "status_from_checks",
    "status_from_coding",
    "to_extension",
]

EXT_IDENTITY_RELIABILITY = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability"
#: FR Core 2.2.0: the 4 RNIV statuses.
CS_IDENTITY_STATUS = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-identity-status"
#: FR Core 2.2.0: identity attributes carried in the ``comment`` sub-extension (DOUT, FICT, HOMD...).
CS_IDENTITY_STATUS_COMMENT = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-identity-status-comment"
#: FR Core 2.1.0: HL7 v2 table 0445 (``VALI`` = qualified, see the module docstring).
CS_V2_0445 = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0445"
#: Older FR Core id of the same table (``FRCoreCodeSystemv2-0445.fsh``, ``Id: fr-core-v2-0445``): read, never emitted.
_CS_V2_0445_LEGACY = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-v2-0445"

#: Codes of FR Core 2.1.0 ``fr-core-cs-v2-0445`` (french-interop.md §1.2). Only ``VALI`` conveys a qualified
#: identity; the others are provisional statuses or identity attributes.
_V2_0445_CODES = frozenset(
    {
        "VIDE",
        "PROV",
        "VALI",
        "DOUB",
        "DESA",
        "DPOT",
        "DOUA",
        "COLP",
        "COLV",
        "FILI",
        "CACH",
        "ANOM",
        "IDVER",
        "RECD",
        "IDRA",
        "USUR",
        "HOMD",
        "HOMA",
        "INVA",
        "FICT",
        "DOUT",
    }
)

FrCoreVersion = Literal["2.1", "2.2"]


class IdentityStatusError(ValueError):
    """An identity status cannot be read, written or changed as asked."""


class IdentityStatus(StrEnum):
    """The four exclusive RNIV identity confidence statuses (stored internally, never FR Core codes)."""

    PROVISIONAL = "provisional"
    RECOVERED = "recovered"
    VALIDATED = "validated"
    QUALIFIED = "qualified"

    @property
    def insi_retrieved(self) -> bool:
        """The traits and matricule come from the INSi teleservice."""
        return self in (IdentityStatus.RECOVERED, IdentityStatus.QUALIFIED)

    @property
    def document_checked(self) -> bool:
        """The traits were checked against a high-trust identity document."""
        return self in (IdentityStatus.VALIDATED, IdentityStatus.QUALIFIED)

    @property
    def label_fr(self) -> str:
        """The RNIV label (also the FR Core 2.2 display)."""
        return _LABELS[self]

    @property
    def may_share_ins(self) -> bool:
        """Only a qualified identity may carry its INS matricule out of the system (FR Core Patient INS)."""
        return self is IdentityStatus.QUALIFIED


_LABELS = {
    IdentityStatus.PROVISIONAL: "Identité provisoire",
    IdentityStatus.RECOVERED: "Identité récupérée",
    IdentityStatus.VALIDATED: "Identité validée",
    IdentityStatus.QUALIFIED: "Identité qualifiée",
}
_V22_CODES = {
    IdentityStatus.PROVISIONAL: "PROV",
    IdentityStatus.RECOVERED: "RECUP",
    IdentityStatus.VALIDATED: "VALI",
    IdentityStatus.QUALIFIED: "QUAL",
}
_V22_BY_CODE = {code: status for status, code in _V22_CODES.items()}
# FR Core 2.1 displays are the table 0445 ones: "VALI" is displayed "Identité validée" although it means qualified.
_V21_CODINGS = {
    IdentityStatus.PROVISIONAL: ("PROV", "Identité provisoire"),
    IdentityStatus.QUALIFIED: ("VALI", "Identité validée"),
}


def status_from_checks(*, insi_retrieved: bool, document_checked: bool) -> IdentityStatus:
    """The status the RNIV matrix gives to the two criteria."""
    if insi_retrieved:
        return IdentityStatus.QUALIFIED if document_checked else IdentityStatus.RECOVERED
    return IdentityStatus.VALIDATED if document_checked else IdentityStatus.PROVISIONAL


# ----------------------------------------------------------------------------------------------------------
# Transitions
# ----------------------------------------------------------------------------------------------------------
def _transitions() -> frozenset[tuple[IdentityStatus, IdentityStatus]]:
    allowed: set[tuple[IdentityStatus, IdentityStatus]] = set()
    for src in IdentityStatus:
        for dst in IdentityStatus:
            gained = (dst.insi_retrieved and not src.insi_retrieved) + (
                dst.document_checked and not src.document_checked
            )
            lost = (src.insi_retrieved and not dst.insi_retrieved) or (
                src.document_checked and not dst.document_checked
            )
            if src is dst:
                continue
            if (gained == 1 and not lost) or (gained == 0 and lost):
                allowed.add((src, dst))
    return frozenset(allowed)


#: Allowed status changes: gaining exactly one criterion (INSi retrieval or document check: PROV->RECUP,
#: PROV->VALI, RECUP->QUAL, VALI->QUAL), or losing evidence (any move towards fewer criteria: trait change,
#: doubt, cancelled check). PROV->QUAL in one step is not allowed: record the INSi retrieval and the document
#: check as two changes (two Provenance records). Same-status "changes" are not transitions.
ALLOWED_TRANSITIONS: frozenset[tuple[IdentityStatus, IdentityStatus]] = _transitions()


def can_transition(src: IdentityStatus, dst: IdentityStatus) -> bool:
    """True when the RNIV allows moving from ``src`` to ``dst`` in one step (see :data:`ALLOWED_TRANSITIONS`)."""
    return (src, dst) in ALLOWED_TRANSITIONS


def check_transition(src: IdentityStatus, dst: IdentityStatus) -> None:
    """Raise :class:`IdentityStatusError` unless ``src -> dst`` is an allowed transition."""
    if not can_transition(src, dst):
        raise IdentityStatusError(
            f"identity status cannot go from {src.value} ({src.label_fr}) to {dst.value} ({dst.label_fr}) in one step"
        )


def after_insi_retrieval(status: IdentityStatus) -> IdentityStatus:
    """Status after an INSi retrieval whose answer matches the local traits (réponse ``00``, traits checked):
    provisional -> recovered, validated -> qualified; unchanged when already retrieved."""
    return status_from_checks(insi_retrieved=True, document_checked=status.document_checked)


def after_document_check(status: IdentityStatus) -> IdentityStatus:
    """Status after a successful check against a high-trust identity document:
    provisional -> validated, recovered -> qualified; unchanged when already checked."""
    return status_from_checks(insi_retrieved=status.insi_retrieved, document_checked=True)


def downgrade_on_trait_change(
    status: IdentityStatus, *, justified_by_high_trust_document: bool = False
) -> IdentityStatus:
    """Status after a local change of a strict INS trait (birth name, birth given names, birth date, sex, birth
    place) -- never an upgrade.

    The INSi answer no longer matches the stored traits, so the INSi criterion is lost: the INS matricule must not
    be used until a new INSi call. The document criterion survives only when the new traits were read from a
    high-trust identity document during the change (``justified_by_high_trust_document``). Hence:
    qualified -> validated (justified) or provisional; recovered and validated -> provisional (validated stays
    validated when justified); provisional stays provisional.

    french-interop.md states no downgrade rule; this follows the two-criteria definition of the statuses
    (FRCoreCodeSystemIdentityStatus.fsh) and the RNIV principle that a status must reflect checks still valid.
    """
    return status_from_checks(
        insi_retrieved=False,
        document_checked=status.document_checked and justified_by_high_trust_document,
    )


# ----------------------------------------------------------------------------------------------------------
# Wire form
# ----------------------------------------------------------------------------------------------------------
def normalize_version(version: str) -> FrCoreVersion:
    """``"2.1"``, ``"2.1.0"`` -> ``"2.1"``; ``"2.2"``, ``"2.2.0"``, ``"2.2.0-ballot"``... -> ``"2.2"``."""
    if version == "2.1" or version.startswith("2.1."):
        return "2.1"
    if version == "2.2" or version.startswith("2.2.") or version.startswith("2.2-"):
        return "2.2"
    raise IdentityStatusError(f"unsupported FR Core version {version!r}: expected 2.1 or 2.2")


def status_coding(status: IdentityStatus, version: str = "2.1", *, strict: bool = False) -> dict[str, str]:
    """The ``identityStatus`` Coding for ``status`` in the given FR Core version.

    FR Core 2.1 has no code for recovered / validated: they become ``PROV`` (lossy, never over-states the
    confidence), or raise :class:`IdentityStatusError` when ``strict``.
    """
    if normalize_version(version) == "2.2":
        return {"system": CS_IDENTITY_STATUS, "code": _V22_CODES[status], "display": status.label_fr}
    coding = _V21_CODINGS.get(status)
    if coding is None:
        if strict:
            raise IdentityStatusError(
                f"FR Core 2.1 (fr-core-cs-v2-0445) has no code for the {status.value} status ({status.label_fr}); "
                "its VALI means qualified"
            )
        coding = _V21_CODINGS[IdentityStatus.PROVISIONAL]
    code, display = coding
    return {"system": CS_V2_0445, "code": code, "display": display}


def to_extension(status: IdentityStatus, version: str = "2.1", *, strict: bool = False) -> dict[str, Any]:
    """The ``fr-core-identity-reliability`` extension carrying ``status`` (``identityStatus`` sub-extension only;
    callers append ``validationDate``, ``validationMode``, ``methodCollection``... as needed).

    ``version`` selects FR Core 2.1 (default: the version TDDUI / PDSm / CDS / CdL depend on) or 2.2; see the
    module docstring for the mapping and the ``VALI`` trap.
    """
    return {
        "url": EXT_IDENTITY_RELIABILITY,
        "extension": [
            {"url": "identityStatus", "valueCoding": status_coding(status, version, strict=strict)}
        ],
    }


def status_from_coding(coding: Mapping[str, Any]) -> IdentityStatus:
    """Read an ``identityStatus`` Coding of either FR Core version.

    * 2.2 ``fr-core-cs-identity-status``: ``PROV``/``RECUP``/``VALI``/``QUAL`` -> provisional / recovered /
      validated / qualified;
    * 2.1 ``fr-core-cs-v2-0445``: ``VALI`` -> **qualified**; every other table 0445 code (``PROV``, ``VIDE``,
      ``DOUT``, ``FICT``...) -> provisional, the only safe reading;
    * no ``system``: refused, since ``VALI`` means validated in 2.2 but qualified in 2.1.
    """
    system, code = coding.get("system"), coding.get("code")
    if not isinstance(code, str) or not code:
        raise IdentityStatusError("identityStatus coding has no code")
    if not system:
        raise IdentityStatusError(
            f"identityStatus coding {code!r} has no system: cannot tell FR Core 2.1 (fr-core-cs-v2-0445, where VALI "
            "means qualified) from FR Core 2.2 (fr-core-cs-identity-status, where VALI means validated)"
        )
    if system == CS_IDENTITY_STATUS:
        status = _V22_BY_CODE.get(code)
        if status is None:
            raise IdentityStatusError(
                f"identityStatus code {code!r} is not in fr-core-cs-identity-status (PROV, RECUP, VALI, QUAL)"
            )
        return status
    if system in (CS_V2_0445, _CS_V2_0445_LEGACY):
        if code not in _V2_0445_CODES:
            raise IdentityStatusError(f"identityStatus code {code!r} is not in fr-core-cs-v2-0445")
        return IdentityStatus.QUALIFIED if code == "VALI" else IdentityStatus.PROVISIONAL
    raise IdentityStatusError(
        f"identityStatus system {system!r} is neither {CS_V2_0445} (FR Core 2.1) nor {CS_IDENTITY_STATUS} (FR Core 2.2)"
    )


def from_extension(ext: Mapping[str, Any]) -> IdentityStatus:
    """Read a ``fr-core-identity-reliability`` extension of either FR Core version (see :func:`status_from_coding`).

    Also enforces the FR Core 2.2 rule that an identity flagged doubtful (``DOUT``) or fictitious (``FICT``) in
    the ``comment`` sub-extension is provisional.
    """
    if ext.get("url") != EXT_IDENTITY_RELIABILITY:
        raise IdentityStatusError(f"not an identity-reliability extension: url {ext.get('url')!r}")
    subs = [sub for sub in ext.get("extension") or [] if isinstance(sub, Mapping)]
    statuses = [sub for sub in subs if sub.get("url") == "identityStatus"]
    if len(statuses) != 1:
        raise IdentityStatusError(
            f"identity-reliability extension must hold exactly one identityStatus, found {len(statuses)}"
        )
    coding = statuses[0].get("valueCoding")
    if not isinstance(coding, Mapping):
        raise IdentityStatusError("identityStatus has no valueCoding")
    status = status_from_coding(coding)
    flags = {
        str(c.get("code"))
        for sub in subs
        if sub.get("url") == "comment" and isinstance(sub.get("valueCodeableConcept"), Mapping)
        for c in sub["valueCodeableConcept"].get("coding") or []
        if isinstance(c, Mapping) and c.get("system") == CS_IDENTITY_STATUS_COMMENT
    }
    if flags & {"DOUT", "FICT"} and status is not IdentityStatus.PROVISIONAL:
        raise IdentityStatusError(
            f"an identity flagged {'/'.join(sorted(flags & {'DOUT', 'FICT'}))} (doubtful / fictitious) must be "
            f"provisional, not {status.value}"
        )
    return status


def from_patient(patient: Mapping[str, Any]) -> IdentityStatus | None:
    """The status carried by a Patient's identity-reliability extension(s), or None when it has none.

    ``fr-core-patient-ins`` allows several extensions (1..*); they must then agree.
    """
    found = {
        from_extension(ext)
        for ext in patient.get("extension") or []
        if isinstance(ext, Mapping) and ext.get("url") == EXT_IDENTITY_RELIABILITY
    }
    if len(found) > 1:
        raise IdentityStatusError(
            "the identity-reliability extensions disagree: " + ", ".join(sorted(s.value for s in found))
        )
    return found.pop() if found else None
