"""Visibility security labels (TRE_A07 StatutVisibiliteDocument, OID ``1.2.250.1.213.1.1.4.13``; see
``shared/specs/french-interop.md`` §12 and https://hl7.org/fhir/R4/security-labels.html).

A label is a Coding in ``meta.security`` (any resource) or ``DocumentReference.securityLabel``, with the TRE_A07
system in its ``urn:oid:`` form or its NOS URL form:

- ``INVISIBLE_PATIENT``: hidden from the usager and from aidants acting for them;
- ``INVISIBLE_REPRESENTANTS_LEGAUX``: hidden from legal representatives and aidants (RelatedPerson / Person users);
- ``MASQUE_PS``: hidden from professionals other than the author (``author`` = their Practitioner or one of their
  PractitionerRoles).

System scopes (no user) see everything. Hidden resources are "not found" on read and left out of searches — the
first two labels are pushed into the search as ``_security:not`` / ``security-label:not`` clauses (so ``total`` is
right); ``MASQUE_PS`` depends on the author, so it is filtered after the query (documented limit on ``total``).
"""

from __future__ import annotations

from typing import Any

from mappings.terminology import NOS

OID = "1.2.250.1.213.1.1.4.13"
SYSTEMS = (f"urn:oid:{OID}", f"{NOS}/TRE_A07-StatutVisibiliteDocument/FHIR/TRE-A07-StatutVisibiliteDocument")
INVISIBLE_PATIENT = "INVISIBLE_PATIENT"
INVISIBLE_REPRESENTANTS_LEGAUX = "INVISIBLE_REPRESENTANTS_LEGAUX"
MASQUE_PS = "MASQUE_PS"

#: the labels hidden from each kind of user (professionals: MASQUE_PS unless author, see :func:`hidden`)
HIDDEN_FROM = {
    "usager": frozenset({INVISIBLE_PATIENT}),
    "aidant": frozenset({INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS_LEGAUX}),
    "professional": frozenset(),
    "other": frozenset({INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS_LEGAUX, MASQUE_PS}),
}


def labels_of(resource: dict[str, Any]) -> set[str]:
    """The TRE_A07 codes on ``resource`` (meta.security and, for DocumentReference, securityLabel)."""
    codings: list[Any] = list((resource.get("meta") or {}).get("security") or [])
    if resource.get("resourceType") == "DocumentReference":
        for concept in resource.get("securityLabel") or []:
            codings += (concept or {}).get("coding") or [] if isinstance(concept, dict) else []
    return {c["code"] for c in codings if isinstance(c, dict) and c.get("system") in SYSTEMS
            and isinstance(c.get("code"), str)}


def authors(resource: dict[str, Any]) -> set[str]:
    """The relative references in ``author`` (DocumentReference, Composition …)."""
    refs = resource.get("author")
    out = set()
    for ref in refs if isinstance(refs, list) else [refs]:
        text = ref.get("reference") if isinstance(ref, dict) else None
        if isinstance(text, str):
            out.add(text)
    return out


def hidden(resource: dict[str, Any], kind: str, identities: frozenset[str]) -> bool:
    """True when a user of ``kind`` ("usager", "aidant", "professional", "other"; "system": never) must not see
    ``resource``; ``identities`` are the professional's own references (Practitioner/X, PractitionerRole/Y)."""
    if kind == "system":
        return False
    found = labels_of(resource)
    if not found:
        return False
    if found & HIDDEN_FROM.get(kind, HIDDEN_FROM["other"]):
        return True
    return kind == "professional" and MASQUE_PS in found and not authors(resource) & identities


def not_clauses(kind: str, resource_type: str) -> list[tuple[str, str]]:
    """Search parameters excluding what ``kind`` may never see, for a search on ``resource_type``."""
    params: list[tuple[str, str]] = []
    for code in sorted(HIDDEN_FROM.get(kind, frozenset()) if kind != "system" else ()):
        for system in SYSTEMS:
            params.append(("_security:not", f"{system}|{code}"))
            if resource_type == "DocumentReference":
                params.append(("security-label:not", f"{system}|{code}"))
    return params
