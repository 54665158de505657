"""National identifier and identity-status checks, run on every write and by ``$validate``.

:class:`IdentityValidator` is a :class:`~fhirserver.interactions.hooks.Validator` (registered in
``fhirserver/domain.py``). It checks, whatever profile the resource claims:

* **Patient** -- every identifier in an INS system (``urn:oid:1.2.250.1.213.1.4.8`` / ``.9`` / ``.10`` / ``.11``):
  NIR / NIA format and key (97 - n mod 97, Corsica 2A/2B); with ``ins_environment = "production"`` the test
  and demo authorities ``.10`` / ``.11`` are refused. ``use`` / ``type`` not matching the FR Core slice are
  warnings (the profile engine owns slice conformance). The identity status (see
  :mod:`fhirserver.identity.reliability`): readable, a *récupérée* / *qualifiée* status only with an INS
  identifier, its evidence present, and the sharing rule: ``meta.profile`` claiming ``fr-core-patient-ins`` or
  ``tddui-patient-ins`` only on a qualified identity.
* **Practitioner / PractitionerRole** -- RPPS (11 digits, Luhn), IDNPS (prefix rules; ``8`` + RPPS Luhn-checked
  and equal to the ``rpps`` identifier when both are present), ADELI (format).
* **Organization** -- FINESS (Luhn), SIREN / SIRET (``https://sirene.fr``: 9 digits SIREN, 14 SIRET),
  Struct_IdNat (prefix ``1`` => FINESS checked, ``2`` SIREN, ``3`` SIRET).
* Legacy systems (``http://rpps.fr``, ``http://adeli.fr``, ``http://finess.sante.gouv.fr``, ``http://sirene.fr``)
  are accepted on input with the same checks.
* Every ``fr-core-address-insee-code`` extension (birth place, addresses): INSEE COG code format.

Every problem is an OperationOutcome issue with ``code`` ``value`` (``business-rule`` for the status rules), the
element in ``expression`` (``Patient.identifier[0].value``) and ``diagnostics`` naming the identifier, the check
and, for a key, the expected key: ``identifier urn:oid:1.2.250.1.213.1.4.8 (INS-NIR) 147720425367411: wrong NIR
key 11, the key of 1477204253674 is 30``. The value is repeated to the client that sent it; the server logs
no diagnostics.

**A resource that is profile-valid but carries a wrong key** (the official TDDUI Patient INS example, NIR
``147720425367411``) is *invalid*: the profile engine (another validator) reports profile conformance and finds
nothing, this validator reports one ``error`` issue on the identifier value. On write the error refuses the
resource (422, nothing stored); ``$validate`` returns 200 with an OperationOutcome holding both validators'
issues -- no profile issue, one identifier error -- so the caller sees the structure is right and exactly which
identifier is wrong. A wrong key is never downgraded to a warning: an INS with a wrong key is not an INS, and
storing it would let it reach the DMP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from fhirserver.errors import Issue
from fhirserver.identity import keys
from fhirserver.identity.ins import CS_V2_0203, check_ins_identifier, ins_system_info
from fhirserver.identity.keys import IdentifierError
from fhirserver.identity.reliability import evidence_problems, read_reliability
from fhirserver.identity.sharing import INS_PROFILES, has_ins_identifier
from fhirserver.identity.status import EXT_IDENTITY_RELIABILITY, IdentityStatus, IdentityStatusError
from fhirserver.identity.traits import EXT_BIRTH_PLACE, EXT_INSEE_CODE

__all__ = ["IdentityValidator", "identifier_issues", "status_issues"]

RPPS_SYSTEMS = ("https://rpps.esante.gouv.fr", "http://rpps.fr")
IDNPS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"
ADELI_SYSTEMS = ("http://adeli.fr",)
FINESS_SYSTEMS = ("https://finess.esante.gouv.fr", "http://finess.sante.gouv.fr")
SIRENE_SYSTEMS = ("https://sirene.fr", "http://sirene.fr")
STRUCT_IDNAT_SYSTEM = "urn:oid:1.2.250.1.71.4.2.2"


def _sirene(value: str) -> Any:
    compact = "".join(value.split())
    return keys.check_siret(value) if len(compact) == 14 else keys.check_siren(value)


#: system -> (label, checker) for professionals and structures (the INS systems are handled apart)
_CHECKS: dict[str, tuple[str, Callable[[str], Any]]] = {
    **{s: ("RPPS", keys.check_rpps) for s in RPPS_SYSTEMS},
    IDNPS_SYSTEM: ("IDNPS", keys.check_idnps),
    **{s: ("ADELI", keys.check_adeli) for s in ADELI_SYSTEMS},
    **{s: ("FINESS", keys.check_finess) for s in FINESS_SYSTEMS},
    **{s: ("SIREN/SIRET", _sirene) for s in SIRENE_SYSTEMS},
    STRUCT_IDNAT_SYSTEM: ("Struct_IdNat", keys.check_struct_idnat),
}
_TYPES = frozenset({"Patient", "Practitioner", "PractitionerRole", "Organization"})


def _issue(text: str, path: str, code: str = "value", severity: str = "error") -> Issue:
    return Issue(text, code=code, severity=severity, expression=(path,))


def _nir_diagnostic(head: str, value: str, exc: IdentifierError) -> str:
    if exc.problem == "key" and exc.expected is not None:
        compact = value.replace(" ", "").upper()
        return (f"{head}: wrong {exc.kind} key {compact[13:]}, the key of {compact[:13]} is {exc.expected} "
                "(97 - the 13 characters mod 97, Corsica 2A/2B read as 19/18)")
    return f"{head}: {exc}"


def _ins_issues(rt: str, i: int, ident: Mapping[str, Any], production: bool) -> list[Issue]:
    system, value = ident.get("system"), ident.get("value")
    entry = ins_system_info(system)
    assert entry is not None
    head = f"identifier {system} ({entry.type_code}) {value}"
    path = f"{rt}.identifier[{i}]"
    if production and entry.environment != "production":
        return [_issue(f"identifier {system} ({entry.type_code}): the {entry.environment} INS authority belongs to "
                       "fictitious patients and is refused when ins_environment is production", path + ".system")]
    if not isinstance(value, str):
        return [_issue(f"{head}: the value must be a string", path + ".value")]
    try:
        nir = keys.check_nir(value, nia=entry.kind == "NIA")
    except IdentifierError as exc:
        return [_issue(_nir_diagnostic(head, value, exc), path + ".value")]
    if nir.value != value:
        return [_issue(f"{head}: the value must be written without spaces, in upper case", path + ".value")]
    type_codes = {c.get("code") for c in (ident.get("type") or {}).get("coding") or [] if isinstance(c, Mapping)}
    if "NH" in type_codes and entry.type_code == "INS-NIR":
        return []  # FR Core Patient NSS slice: type v2-0203#NH on the INS-NIR OID
    try:
        check_ins_identifier(ident)
    except IdentifierError as exc:
        return [_issue(f"identifier {system} ({entry.type_code}): {exc} (FR Core Patient INS slice; "
                       f"type system {CS_V2_0203})", path, code="invalid", severity="warning")]
    return []


def _other_issues(rt: str, i: int, ident: Mapping[str, Any]) -> tuple[list[Issue], Any]:
    system, value = ident.get("system"), ident.get("value")
    label, check = _CHECKS[str(system)]
    head = f"identifier {system} ({label}) {value}"
    path = f"{rt}.identifier[{i}].value"
    if not isinstance(value, str):
        return [_issue(f"{head}: the value must be a string", path)], None
    try:
        result = check(value)
    except IdentifierError as exc:
        return [_issue(f"{head}: {exc}", path)], None
    if result.value != value:
        return [_issue(f"{head}: the value must be written {result.value} (no spaces, upper case)", path)], None
    return [], result


def identifier_issues(resource: Mapping[str, Any], *, production: bool) -> list[Issue]:
    """Issues for the national identifiers of a Patient, Practitioner, PractitionerRole or Organization."""
    rt = str(resource.get("resourceType"))
    if rt not in _TYPES:
        return []
    issues: list[Issue] = []
    rpps: list[tuple[int, str]] = []
    idnps: list[tuple[int, Any]] = []
    for i, ident in enumerate(resource.get("identifier") or []):
        if not isinstance(ident, Mapping):
            continue
        system = ident.get("system")
        if ins_system_info(system) is not None:
            if rt == "Patient":
                issues.extend(_ins_issues(rt, i, ident, production))
            continue
        if system not in _CHECKS:
            continue
        found, result = _other_issues(rt, i, ident)
        issues.extend(found)
        if result is not None and system in RPPS_SYSTEMS:
            rpps.append((i, result.value))
        elif result is not None and system == IDNPS_SYSTEM and result.kind == "RPPS":
            idnps.append((i, result))
    for i, parsed in idnps:
        for j, number in rpps:
            if parsed.number != number:
                issues.append(_issue(
                    f"identifier {IDNPS_SYSTEM} (IDNPS) {parsed.value}: the RPPS it carries after prefix 8 "
                    f"({parsed.number}) differs from the RPPS identifier {number} ({rt}.identifier[{j}])",
                    f"{rt}.identifier[{i}].value"))
    return issues


def _insee_extensions(node: Any, path: str, in_birth_place: bool) -> Iterator[tuple[str, Any, bool]]:
    if isinstance(node, Mapping):
        here_birth = in_birth_place or node.get("url") == EXT_BIRTH_PLACE
        if node.get("url") == EXT_INSEE_CODE:
            coding = node.get("valueCoding")
            yield path + ".valueCoding.code", coding.get("code") if isinstance(coding, Mapping) else None, here_birth
        for key, value in node.items():
            if isinstance(value, Mapping | list):
                yield from _insee_extensions(value, f"{path}.{key}", here_birth)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _insee_extensions(item, f"{path}[{i}]", in_birth_place)


def insee_issues(resource: Mapping[str, Any]) -> list[Issue]:
    """INSEE COG code format of every ``fr-core-address-insee-code`` extension."""
    issues = []
    for path, code, birth in _insee_extensions(resource, str(resource.get("resourceType")), False):
        label = "birth place INSEE code" if birth else "INSEE code"
        if not isinstance(code, str):
            issues.append(_issue(f"{label}: the extension {EXT_INSEE_CODE} has no valueCoding.code", path))
            continue
        try:
            checked = keys.check_insee_code(code)
        except IdentifierError as exc:
            issues.append(_issue(f"{label} {code}: {exc}", path))
            continue
        if checked.value != code:
            issues.append(_issue(f"{label} {code}: must be written {checked.value}", path))
    return issues


def _reliability_path(patient: Mapping[str, Any]) -> str:
    for i, ext in enumerate(patient.get("extension") or []):
        if isinstance(ext, Mapping) and ext.get("url") == EXT_IDENTITY_RELIABILITY:
            return f"Patient.extension[{i}]"
    return "Patient.extension"


def status_issues(patient: Mapping[str, Any]) -> list[Issue]:
    """The identity-status rules of a Patient (see the module docstring)."""
    try:
        rel = read_reliability(patient)
    except IdentityStatusError as exc:
        return [_issue(f"identity status (extension {EXT_IDENTITY_RELIABILITY}): {exc}", _reliability_path(patient))]
    status = rel.status if rel else IdentityStatus.PROVISIONAL
    issues = []
    label = status.label_fr.removeprefix("Identité ")
    if status.insi_retrieved and not has_ins_identifier(patient):
        issues.append(_issue(f"identity status '{label}' requires an INS identifier (INS-NIR, INS-NIA, INS-NIR-TEST "
                             "or INS-NIR-DEMO): the INSi teleservice returns it", "Patient.identifier",
                             code="business-rule"))
    if rel is not None:
        issues.extend(_issue(f"identity status '{label}': {p}", _reliability_path(patient), code="business-rule")
                      for p in evidence_problems(rel))
    if not status.may_share_ins:
        profiles = (patient.get("meta") or {}).get("profile") or []
        for i, url in enumerate(profiles):
            if isinstance(url, str) and url.split("|", 1)[0] in INS_PROFILES:
                issues.append(_issue(
                    f"meta.profile claims {url} but the identity status is '{label}': only a qualified identity "
                    "may carry its INS (claim fr-core-patient / tddui-patient instead)",
                    f"Patient.meta.profile[{i}]", code="business-rule"))
    return issues


class IdentityValidator:
    """The identifier and identity-status checks as a write/``$validate`` validator."""

    def __init__(self, ins_environment: str = "test") -> None:
        self.production = ins_environment == "production"

    def issues(self, resource: dict[str, Any], profiles: list[str]) -> list[Issue]:
        if not isinstance(resource, Mapping) or resource.get("resourceType") not in _TYPES:
            return []
        out = identifier_issues(resource, production=self.production)
        out.extend(insee_issues(resource))
        if resource.get("resourceType") == "Patient":
            out.extend(status_issues(resource))
        return out
