"""Pro Santé Connect claims → the professional's FHIR user.

``SubjectNameID`` is the IDNPS (e.g. ``8`` + RPPS), matched exactly — never built nor interpreted — against
``Practitioner.identifier`` of system ``urn:oid:1.2.250.1.71.4.2.1`` (FR Core slice ``idNatPs``, type IDNPS):
../shared/specs/french-interop.md §2.1 and §8.3. ``SubjectRefPro.exercices[]`` (professions, roles, structures'
FINESS / SIRET) is kept with the identity; :func:`summary` gives what the connected page shows.
"""

from __future__ import annotations

from typing import Any

from fhirserver.auth.logins.records import search_ids
from fhirserver.interactions.context import Context

IDNPS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"
KEPT = ("SubjectNameID", "SubjectRefPro", "SubjectOrganization", "SubjectOrganizationID", "SubjectRole",
        "Secteur_Activite", "given_name", "family_name")


class UnknownProfessional(Exception):
    """No (or more than one) Practitioner carries this IDNPS."""


def idnps(claims: dict[str, Any]) -> str | None:
    value = claims.get("SubjectNameID")
    return value.strip() if isinstance(value, str) and value.strip() else None


def practitioner_for(ctx: Context, claims: dict[str, Any]) -> str:
    """``Practitioner/X`` whose IDNPS identifier is the ``SubjectNameID``; :class:`UnknownProfessional` else."""
    value = idnps(claims)
    if value is None or "|" in value or "," in value:
        raise UnknownProfessional("no SubjectNameID")
    ids = search_ids(ctx, "Practitioner", [("identifier", f"{IDNPS_SYSTEM}|{value}")])
    if len(ids) != 1:
        raise UnknownProfessional(f"{len(ids)} Practitioner with this IDNPS")
    return f"Practitioner/{ids[0]}"


def kept_claims(claims: dict[str, Any]) -> dict[str, Any]:
    return {k: claims[k] for k in KEPT if k in claims}


def summary(claims: dict[str, Any] | None) -> list[dict[str, str]]:
    """One line per exercice / activity: profession code and structure (name, FINESS, SIRET)."""
    out: list[dict[str, str]] = []
    ref = (claims or {}).get("SubjectRefPro")
    exercices = ref.get("exercices") if isinstance(ref, dict) else None
    for exercice in exercices if isinstance(exercices, list) else []:
        if not isinstance(exercice, dict):
            continue
        profession = str(exercice.get("codeProfession") or "")
        activities = exercice.get("activities") if isinstance(exercice.get("activities"), list) else []
        for activity in activities or [{}]:
            if isinstance(activity, dict):
                out.append({"profession": profession,
                            "structure": str(activity.get("raisonSocialeSite") or ""),
                            "finess": str(activity.get("numeroFinessSite") or ""),
                            "siret": str(activity.get("numeroSiretSite") or "")})
    return out
