"""INS matricule identifier systems and FHIR Identifiers (pure functions, no framework).

FR Core ``fr-core-patient-ins`` defines four INS identifier slices
(``Interop-Sante/hl7.fhir.fr.core:input/fsh/profiles/FRCorePatientINSProfile.fsh``; french-interop.md §1.1):

=================  ===================================  ========  ==============  ==================
Slice / type code  System                               Kind      Environment     ``identifier.use``
=================  ===================================  ========  ==============  ==================
``INS-NIR``        ``urn:oid:1.2.250.1.213.1.4.8``      NIR       production      official (old)
``INS-NIA``        ``urn:oid:1.2.250.1.213.1.4.9``      NIA       production      temp
``INS-NIR-TEST``   ``urn:oid:1.2.250.1.213.1.4.10``     NIR       test            official
``INS-NIR-DEMO``   ``urn:oid:1.2.250.1.213.1.4.11``     NIR       demo            official
=================  ===================================  ========  ==============  ==================

``.10`` and ``.11`` are **not** the test versions of NIR and NIA: they are the "test" and "démo" assigning
authorities of fictitious patients, both typed as NIR. FR Core defines no test or demo slice for an NIA, so
:func:`ins_identifier` refuses ``kind="NIA"`` outside production. The type codes live in
``https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203`` (displays from ``FRCoreCodeSystemv2-0203.fsh``).

INS-C (``.4.2``, legacy) and the NSS OIDs (``.4.13`` / ``.4.14``) are not INS matricules: :func:`is_ins_system`
is False for them. Only a qualified identity may carry these identifiers out of the system (french-interop.md
§1.4; see :attr:`fhirserver.identity.status.IdentityStatus.may_share_ins`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from fhirserver.identity.keys import IdentifierError, Nir, check_nir

__all__ = [
    "CS_V2_0203",
    "INS_NIA_OID",
    "INS_NIR_DEMO_OID",
    "INS_NIR_OID",
    "INS_NIR_TEST_OID",
    "INS_SYSTEMS",
    "InsEnvironment",
    "InsKind",
    "InsSystem",
    "check_ins_identifier",
    "ins_identifier",
    "ins_system",
    "ins_system_info",
    "is_ins_system",
]

CS_V2_0203 = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
INS_NIR_OID = "1.2.250.1.213.1.4.8"
INS_NIA_OID = "1.2.250.1.213.1.4.9"
INS_NIR_TEST_OID = "1.2.250.1.213.1.4.10"
INS_NIR_DEMO_OID = "1.2.250.1.213.1.4.11"

InsKind = Literal["NIR", "NIA"]
InsEnvironment = Literal["production", "test", "demo"]
IdentifierUse = Literal["usual", "official", "temp", "secondary", "old"]


@dataclass(frozen=True, slots=True)
class InsSystem:
    """One INS assigning authority as FR Core slices it."""

    oid: str
    kind: InsKind
    environment: InsEnvironment
    type_code: str
    type_display: str
    uses: tuple[IdentifierUse, ...]

    @property
    def system(self) -> str:
        """The FHIR ``Identifier.system`` (``urn:oid:`` + OID)."""
        return f"urn:oid:{self.oid}"

    @property
    def default_use(self) -> IdentifierUse:
        return self.uses[0]


INS_SYSTEMS: tuple[InsSystem, ...] = (
    InsSystem(INS_NIR_OID, "NIR", "production", "INS-NIR", "NIR définitif", ("official", "old")),
    InsSystem(INS_NIA_OID, "NIA", "production", "INS-NIA", "NIR temporaire", ("temp",)),
    InsSystem(INS_NIR_TEST_OID, "NIR", "test", "INS-NIR-TEST", "NIR TEST", ("official",)),
    InsSystem(INS_NIR_DEMO_OID, "NIR", "demo", "INS-NIR-DEMO", "NIR DEMO", ("official",)),
)
_BY_OID = {entry.oid: entry for entry in INS_SYSTEMS}
_ENVIRONMENTS = ("production", "test", "demo")


def ins_system(kind: InsKind = "NIR", environment: InsEnvironment = "production") -> InsSystem:
    """The INS assigning authority for a matricule kind in a deployment environment.

    ``environment`` is ``"production"`` (real patients: ``.8`` NIR / ``.9`` NIA), ``"test"`` (``.10``) or
    ``"demo"`` (``.11``); the last two exist for NIR only.
    """
    if environment not in _ENVIRONMENTS:
        raise ValueError(f"unknown INS environment {environment!r}: expected production, test or demo")
    if kind not in ("NIR", "NIA"):
        raise ValueError(f"unknown INS matricule kind {kind!r}: expected NIR or NIA")
    for entry in INS_SYSTEMS:
        if entry.kind == kind and entry.environment == environment:
            return entry
    raise IdentifierError(
        f"INS-{kind}",
        "unsupported",
        f"INS-{kind}: FR Core defines no {environment} assigning authority for an NIA "
        f"(only INS-NIR-TEST {INS_NIR_TEST_OID} and INS-NIR-DEMO {INS_NIR_DEMO_OID} exist)",
    )


def ins_system_info(system: object) -> InsSystem | None:
    """The INS assigning authority of an ``Identifier.system`` (``urn:oid:`` form, or the bare OID used as a CDA
    ``id/@root``), or None when it is not an INS matricule system."""
    if not isinstance(system, str):
        return None
    oid = system.removeprefix("urn:oid:")
    return _BY_OID.get(oid)


def is_ins_system(system: object) -> bool:
    """True for the four INS matricule systems (NIR, NIA, test, demo), False otherwise (INS-C, NSS, IPP...)."""
    return ins_system_info(system) is not None


def ins_identifier(
    matricule: str,
    kind: InsKind = "NIR",
    environment: InsEnvironment = "production",
    *,
    use: IdentifierUse | None = None,
) -> dict[str, Any]:
    """The FHIR Identifier of an INS matricule, as the FR Core Patient INS slice expects it.

    The matricule is checked with :func:`fhirserver.identity.keys.check_nir` (format and key; raises
    :class:`IdentifierError`) and written in its canonical 15-character form. ``use`` defaults to the slice's:
    ``official`` for NIR / test / demo, ``temp`` for NIA; ``old`` is accepted for a deactivated INS-NIR.
    """
    entry = ins_system(kind, environment)
    chosen = use or entry.default_use
    if chosen not in entry.uses:
        raise IdentifierError(
            entry.type_code,
            "unsupported",
            f"{entry.type_code}: identifier.use {chosen!r} is not allowed, expected {' or '.join(entry.uses)}",
            value=matricule,
        )
    nir = check_nir(matricule, nia=kind == "NIA")
    return {
        "use": chosen,
        "type": {"coding": [{"system": CS_V2_0203, "code": entry.type_code, "display": entry.type_display}]},
        "system": entry.system,
        "value": nir.value,
    }


def check_ins_identifier(identifier: Mapping[str, Any]) -> Nir:
    """Check a FHIR Identifier that claims an INS system against the FR Core slice and the NIR/NIA key.

    Raises :class:`IdentifierError` when the system is not an INS system, ``use`` or ``type`` are missing or
    do not match the slice (FR Core makes both 1..1), or the value is not a NIR / NIA with a valid key. The
    value must already be canonical (15 characters, no spaces).
    """
    system = identifier.get("system")
    entry = ins_system_info(system)
    if entry is None:
        raise IdentifierError("INS", "unsupported", f"INS: system {system!r} is not an INS system")
    if system != entry.system:
        raise IdentifierError(
            entry.type_code,
            "format",
            f"{entry.type_code}: the system must be written {entry.system}, got {system!r}",
        )
    use = identifier.get("use")
    if use not in entry.uses:
        raise IdentifierError(
            entry.type_code,
            "unsupported",
            f"{entry.type_code}: identifier.use must be {' or '.join(entry.uses)}, got {use!r}",
        )
    type_ = identifier.get("type")
    codings = type_.get("coding") if isinstance(type_, Mapping) else None
    if not any(
        isinstance(c, Mapping) and c.get("system") == CS_V2_0203 and c.get("code") == entry.type_code
        for c in codings or []
    ):
        raise IdentifierError(
            entry.type_code,
            "unsupported",
            f"{entry.type_code}: identifier.type must contain {CS_V2_0203}#{entry.type_code}",
        )
    value = identifier.get("value")
    if not isinstance(value, str):
        raise IdentifierError(
            entry.type_code, "type", f"{entry.type_code}: identifier.value must be a string", value=value
        )
    nir = check_nir(value, nia=entry.kind == "NIA")
    if nir.value != value:
        raise IdentifierError(
            entry.type_code,
            "format",
            f"{entry.type_code}: the value must be written without spaces, in upper case",
            value=value,
        )
    return nir
