"""Who administers what: the write rules for the records the reach is computed from (issue "nobody widens a reach
by writing the directory"; ASVS 4.1.3 least privilege, 8.2.2 data-level authorization).

The reach (:mod:`fhirserver.auth.reach`) of a professional is computed from PractitionerRoles, Organizations
(``partOf``), CareTeams and ``Patient.managingOrganization``; the reach of an aidant from delegation Consents,
RelatedPersons and ``Person.link``. Whoever could write those records could widen a reach, so they are written only
by:

- the **operator** and system clients (``system/`` scopes, bounded by their scopes only; the CLI and the worker);
- a professional holding an **habilitation** for the structure the record belongs to, carried by one of their
  current PractitionerRoles as an extension :data:`EXTENSION` whose ``valueCoding`` is a code of :data:`SYSTEM`
  (an extension, not ``PractitionerRole.code``, whose TDDUI binding to JDV_J47 is required):

  - ``administrateur``: the structure's directory (its Organization and sub-structures, PractitionerRoles, Locations,
    HealthcareServices, Endpoints, Groups, Persons, CareTeams of its usagers, Practitioners working there) and
    everything ``admission`` allows;
  - ``admission`` (accueil, secrétariat): creating usagers in the structure (``Patient.managingOrganization``),
    moving a usager between structures it admits to, ``Patient.link`` (merges are a staff act), and recording aidant
    delegations (Consent) for the structure's usagers.

  An habilitation covers the structure of the role and its sub-structures. A PractitionerRole that carries
  ``administrateur`` is written by the operator only (``dui roles add``): an administrator never names another one,
  nor widens their own reach beyond the structures they already administer.

Usagers and aidants never write those records; a usager may revoke a delegation they gave (status ``inactive`` or
``rejected``), nothing more. Every other resource type follows the compartment rules of :mod:`fhirserver.auth.policy`.

This module only decides; :class:`fhirserver.auth.policy.ScopePolicy` calls it on every write with the stored
version and the final body (after the write hooks), so create, update, patch, delete, transaction entries and
``$meta-add`` / ``$meta-delete`` are judged alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fhirserver.auth.delegation import is_delegation

SYSTEM = "https://dui.example.org/fhir/CodeSystem/habilitation"
EXTENSION = "https://dui.example.org/fhir/StructureDefinition/habilitation"
ADMINISTRATEUR = "administrateur"
ADMISSION = "admission"
HABILITATIONS = (ADMINISTRATEUR, ADMISSION)

#: directory types -> the references that place a record in a structure (Organization ids)
STRUCTURE_PATHS: dict[str, tuple[str, ...]] = {
    "Organization": ("partOf",),
    "PractitionerRole": ("organization",),
    "Location": ("managingOrganization",),
    "HealthcareService": ("providedBy",),
    "Endpoint": ("managingOrganization",),
    "Group": ("managingEntity",),
    "Person": ("managingOrganization",),
    "OrganizationAffiliation": ("organization", "participatingOrganization"),
    "CareTeam": ("managingOrganization",),
}
#: written only by administrators of their structure (or the operator)
DIRECTORY_TYPES = frozenset({*STRUCTURE_PATHS, "Practitioner"})
#: every type whose records the reach is computed from (Consent: delegation Consents only)
REACH_SOURCES = frozenset({*DIRECTORY_TYPES, "Patient", "Consent"})
#: what a usager may set a delegation they gave to (revocation)
REVOKED_STATUSES = frozenset({"inactive", "rejected", "entered-in-error"})


def habilitations(role: dict[str, Any]) -> set[str]:
    """The habilitation codes (:data:`HABILITATIONS`) a PractitionerRole carries (extension :data:`EXTENSION`)."""
    out: set[str] = set()
    for ext in role.get("extension") or []:
        coding = ext.get("valueCoding") if isinstance(ext, dict) and ext.get("url") == EXTENSION else None
        if isinstance(coding, dict) and coding.get("system") == SYSTEM and coding.get("code") in HABILITATIONS:
            out.add(str(coding["code"]))
    return out


def habilitation_extension(code: str) -> dict[str, Any]:
    """The extension that gives a PractitionerRole the habilitation ``code``."""
    return {"url": EXTENSION, "valueCoding": {"system": SYSTEM, "code": code}}


def org_id(value: Any) -> str | None:
    """The id of a relative ``Organization/ID`` reference, else None."""
    text = value.get("reference") if isinstance(value, dict) else None
    if isinstance(text, str) and text.startswith("Organization/") and text.count("/") == 1:
        return text.split("/", 1)[1]
    return None


def structures_of(resource: dict[str, Any] | None) -> set[str]:
    """The structures (Organization ids) a directory record names through :data:`STRUCTURE_PATHS`."""
    if not resource:
        return set()
    out: set[str] = set()
    for path in STRUCTURE_PATHS.get(str(resource.get("resourceType")), ()):
        value = resource.get(path)
        for item in value if isinstance(value, list) else [value]:
            found = org_id(item)
            if found:
                out.add(found)
    return out


@dataclass(frozen=True)
class Writer:
    """What the policy knows of a bounded writer: its kind and, for professionals, the structures it holds each
    habilitation for (sub-structures included)."""

    kind: str  # "usager" | "aidant" | "professional" | "other"
    administers: frozenset[str] = frozenset()
    admits: frozenset[str] = frozenset()  # admission: administrators admit too


class Refusal(Exception):
    """A write the rules refuse; the message says why (shown in the 403 OperationOutcome)."""


#: reads a stored resource for the rules (``(type, id) -> content or None``), in the interaction's session
Reader = Callable[[str, str], "dict[str, Any] | None"]
#: the PractitionerRoles of a Practitioner id (current or not), in the interaction's session
RoleFinder = Callable[[str], "list[dict[str, Any]]"]


def check(writer: Writer, rt: str, old: dict[str, Any] | None, new: dict[str, Any] | None,
          read: Reader, roles_of: RoleFinder) -> None:
    """Raise :class:`Refusal` unless ``writer`` may turn ``old`` (None: a new record) into ``new`` (None: a delete)
    for a resource of type ``rt``. Types outside :data:`REACH_SOURCES` are not judged here."""
    if rt in DIRECTORY_TYPES:
        _directory(writer, rt, old, new, read, roles_of)
    elif rt == "Patient":
        _patient(writer, old, new)
    elif rt == "Consent" and (is_delegation(old or {}) or is_delegation(new or {})):
        _delegation(writer, old, new, read)


#: stands for "no structure" in the sets below: only the operator writes such a record
NO_STRUCTURE = "?"


def _need(allowed: frozenset[str], wanted: Iterable[str], what: str) -> None:
    missing = sorted(set(wanted) - allowed)
    if NO_STRUCTURE in missing:
        raise Refusal(f"{what}: the record names no structure (managingOrganization), so only the operator may")
    if missing:
        raise Refusal(f"{what} needs an habilitation for Organization/{missing[0]}, which this user does not hold")


def require_administrator(writer: Writer, rt: str) -> None:
    """Directory records are written by professionals who administer some structure (which one: :func:`check`)."""
    if writer.kind != "professional" or not writer.administers:
        raise Refusal(f"{rt} records (the directory) are written by the structure's administrators only")


def _directory(writer: Writer, rt: str, old: dict[str, Any] | None, new: dict[str, Any] | None, read: Reader,
               roles_of: RoleFinder) -> None:
    require_administrator(writer, rt)
    if rt == "PractitionerRole" and (ADMINISTRATEUR in habilitations(old or {})
                                     or ADMINISTRATEUR in habilitations(new or {})):
        raise Refusal("a PractitionerRole with the habilitation 'administrateur' is set by the operator only")
    if rt == "Practitioner":
        _practitioner(writer, old, roles_of)
        return
    before, after = structures_of(old), structures_of(new)
    if rt == "Organization":
        own = {str(r["id"]) for r in (old, new) if r and r.get("id")}
        if old is not None:
            _need(writer.administers, own, "changing this Organization")
        changed = after - before
        if old is None and not after:
            raise Refusal("a new Organization written by an administrator must be part of (partOf) one of their "
                          "structures")
        _need(writer.administers, changed, "attaching an Organization (partOf)")
        return
    if rt == "CareTeam":
        before |= _usager_structures(old, "subject", read)
        after |= _usager_structures(new, "subject", read)
    if not before and not after:
        raise Refusal(f"this {rt} names no structure of its own: the operator writes it")
    _need(writer.administers, before | after, f"writing this {rt}")


def _practitioner(writer: Writer, old: dict[str, Any] | None, roles_of: RoleFinder) -> None:
    """A new Practitioner (a hire) by any administrator; an existing one only where they work."""
    if old is None:
        return
    works = {o for role in roles_of(str(old.get("id"))) if role.get("active") is not False
             and (o := org_id(role.get("organization")))}
    if not works & writer.administers:
        raise Refusal("this Practitioner works in none of the structures this user administers")


def _usager_structures(resource: dict[str, Any] | None, path: str, read: Reader) -> set[str]:
    """The structure of the usager ``resource.<path>`` references (CareTeam.subject, Consent.patient): empty when
    it names no local Patient, :data:`NO_STRUCTURE` for a usager without one (then only the operator writes)."""
    value = (resource or {}).get(path)
    ref = value.get("reference") if isinstance(value, dict) else None
    if not isinstance(ref, str) or not ref.startswith("Patient/") or ref.count("/") != 1:
        return set()
    found = org_id((read("Patient", ref.split("/", 1)[1]) or {}).get("managingOrganization"))
    return {found} if found else {NO_STRUCTURE}


def _patient(writer: Writer, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
    before = org_id((old or {}).get("managingOrganization"))
    after = org_id((new or {}).get("managingOrganization"))
    links_changed = _links(old) != _links(new)
    if writer.kind != "professional":
        if old is None:
            raise Refusal("usagers are admitted by the structure's staff: a usager or an aidant cannot create one")
        if new is None:
            raise Refusal("a usager's record is closed by the structure's staff, not deleted by the usager")
        if before != after or links_changed:
            raise Refusal("the structure (managingOrganization) and the links of a usager's record are changed by "
                          "the structure's staff only")
        return
    touched = {s for s in (before, after) if s} or {NO_STRUCTURE}
    if old is None or new is None:
        _need(writer.admits, touched, "admitting a usager" if old is None else "deleting a usager's record")
        return
    if before != after:
        _need(writer.admits, touched, "moving a usager to another structure")
    if links_changed:
        _need(writer.admits, touched, "linking usagers' records (merge)")


def _links(patient: dict[str, Any] | None) -> list[tuple[str, str]]:
    out = []
    for link in (patient or {}).get("link") or []:
        if isinstance(link, dict):
            out.append((str((link.get("other") or {}).get("reference")), str(link.get("type"))))
    return sorted(out)


def _delegation(writer: Writer, old: dict[str, Any] | None, new: dict[str, Any] | None, read: Reader) -> None:
    if writer.kind == "usager" and old is not None and new is not None and is_delegation(old) \
            and new.get("status") in REVOKED_STATUSES:
        return  # the usager revokes a delegation they gave
    if writer.kind != "professional":
        raise Refusal("aidant delegations are recorded by the structure's staff (admission); a usager may revoke "
                      "one (status inactive or rejected)")
    structures = _usager_structures(old, "patient", read) | _usager_structures(new, "patient", read)
    _need(writer.admits, structures or {NO_STRUCTURE}, "recording an aidant delegation")
