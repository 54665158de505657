"""The qualified-only rule: the INS matricule leaves the system only with a qualified identity.

"Le matricule INS ne peut être véhiculé que dans le cas d'une identité qualifiée" (FR Core
``FRCorePatientINSProfile.fsh`` description; french-interop.md §1.4). Every exit of patient data -- the TDDUI
export, the CDA documents (DMP, MSSanté), a ``meta.profile`` claiming ``fr-core-patient-ins`` /
``tddui-patient-ins`` -- goes through this module:

* :func:`status_of` -- the RNIV status a stored Patient carries (either FR Core wire form; provisional when it
  carries none or an unreadable one: the safe reading);
* :func:`may_share_ins` -- True only for a qualified identity;
* :func:`require_qualified` -- raise :class:`~fhirserver.errors.Unprocessable` (422) with an explicit
  OperationOutcome when the INS of a non-qualified identity is about to be transmitted;
* :func:`without_ins` -- a copy of the Patient without its INS identifiers and INS profile claims (what an
  exporter sends for a non-qualified identity).

Pure functions, no framework.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from fhirserver.errors import Issue, Unprocessable
from fhirserver.identity.ins import is_ins_system
from fhirserver.identity.reliability import read_status
from fhirserver.identity.status import IdentityStatus

__all__ = [
    "INS_PROFILES",
    "has_ins_identifier",
    "ins_profile_claims",
    "may_share_ins",
    "require_qualified",
    "status_of",
    "without_ins",
]

#: Profiles whose instances carry the INS matricule (claiming them on a non-qualified identity is refused).
INS_PROFILES = frozenset({
    "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-ins",
    "https://interop.esante.gouv.fr/ig/fhir/tddui/StructureDefinition/tddui-patient-ins",
})


def _profile_base(url: str) -> str:
    """A canonical without its ``|version`` suffix."""
    return url.split("|", 1)[0]


def ins_profile_claims(patient: Mapping[str, Any]) -> list[str]:
    """The INS profiles ``meta.profile`` claims (as written, version suffix kept)."""
    meta = patient.get("meta")
    profiles = meta.get("profile") if isinstance(meta, Mapping) else None
    return [p for p in profiles or [] if isinstance(p, str) and _profile_base(p) in INS_PROFILES]


def has_ins_identifier(patient: Mapping[str, Any]) -> bool:
    """True when the Patient carries an identifier in one of the four INS systems (NIR, NIA, test, demo)."""
    return any(isinstance(i, Mapping) and is_ins_system(i.get("system")) for i in patient.get("identifier") or [])


def status_of(patient: Mapping[str, Any]) -> IdentityStatus:
    """The RNIV status of ``patient`` as stored (FR Core 2.1 or 2.2 wire form, see
    :mod:`fhirserver.identity.reliability`). A Patient without the extension, or with one that cannot be read,
    is provisional: the sharing rule must never over-state the confidence."""
    try:
        status = read_status(patient)
    except ValueError:
        return IdentityStatus.PROVISIONAL
    return status or IdentityStatus.PROVISIONAL


def may_share_ins(patient: Mapping[str, Any]) -> bool:
    """True when the INS matricule of ``patient`` may leave the system: the identity is qualified."""
    return status_of(patient).may_share_ins


def _reference(patient: Mapping[str, Any]) -> str:
    pid = patient.get("id")
    return f"Patient/{pid}" if isinstance(pid, str) and pid else "the Patient"


def require_qualified(patient: Mapping[str, Any], purpose: str) -> None:
    """Refuse (422 Unprocessable, OperationOutcome code ``business-rule``) to transmit the INS of a
    non-qualified identity; ``purpose`` names the exit ("TDDUI export", "CDA document", "DMP"...)."""
    status = status_of(patient)
    if status.may_share_ins:
        return
    message = (f"the INS of {_reference(patient)} cannot be transmitted ({purpose}): identity status is "
               f"'{status.label_fr.removeprefix('Identité ')}', only a qualified identity may carry its INS")
    raise Unprocessable(message, [Issue(message, code="business-rule", expression=("Patient.identifier",))])


def without_ins(patient: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``patient`` without its INS identifiers (the four INS systems) and without the INS
    profile claims (``fr-core-patient-ins``, ``tddui-patient-ins``). Other identifiers (IPP, local usager id,
    INS-C...), the identity-reliability extension and the other profiles are kept; an emptied
    ``identifier`` / ``meta.profile`` / ``meta`` is removed. The caller picks the non-INS profile it claims
    instead (``fr-core-patient``, ``tddui-patient``)."""
    out = copy.deepcopy(dict(patient))
    identifiers = [i for i in out.get("identifier") or []
                   if not (isinstance(i, Mapping) and is_ins_system(i.get("system")))]
    if identifiers:
        out["identifier"] = identifiers
    else:
        out.pop("identifier", None)
    meta = out.get("meta")
    if isinstance(meta, dict) and isinstance(meta.get("profile"), list):
        profiles = [p for p in meta["profile"] if not (isinstance(p, str) and _profile_base(p) in INS_PROFILES)]
        if profiles:
            meta["profile"] = profiles
        else:
            meta.pop("profile")
        if not meta:
            out.pop("meta")
    return out
