"""Aidant delegations: the FHIR ``Consent`` convention by which a usager (or staff) lets an aidant act for them.

An aidant account (fhirUser ``RelatedPerson/Y``, or ``Person/Z`` whose ``Person.link`` targets RelatedPersons) reaches
a usager's record only through an active delegation; there is no other way (``dui users link`` grants nothing to
such accounts). A delegation is a Consent (https://hl7.org/fhir/R4/consent.html) with:

- ``category`` holding ``https://dui.example.org/fhir/CodeSystem/access-delegation|delegation`` (what marks it);
- ``scope`` = consentscope ``patient-privacy``; ``status``: ``active`` grants, anything else (``inactive``,
  ``rejected``, ``entered-in-error`` …) grants nothing;
- ``patient`` = the usager; ``performer`` = who granted it (the usager or a professional);
- ``provision.type`` = ``permit``; ``provision.period`` with ``start`` and ``end`` (end required, after start, at most
  :data:`MAX_DAYS` days after start); the delegation applies while now is inside the period;
- ``provision.actor`` = exactly one ``RelatedPerson/Y`` reference whose ``RelatedPerson.patient`` is the usager,
  with a ``role`` (e.g. ``http://terminology.hl7.org/CodeSystem/v3-RoleCode|POWATT``);
- ``provision.action``: consentaction ``access`` (read and search) and optionally ``collect`` (may ADD data: create
  only, never update nor delete);
- nested ``provision`` entries with ``type=deny`` and ``class`` (resource types, a Coding whose ``code`` is the type,
  system ``http://hl7.org/fhir/resource-types``) or ``code`` (codes of the data left out, compared with the
  resource's ``type`` / ``code`` / ``category`` codings, e.g. a document type for "directives anticipées").

Revocation: the usager (a patient-scope token on their own Consent) or staff set ``status`` to ``inactive`` /
``rejected`` or end the period; it applies from the next request on. Aidants can never write Consents.

:class:`DelegationHook` validates delegation Consents on every write (422 OperationOutcome).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from fhirserver.errors import Issue, Unprocessable

if TYPE_CHECKING:
    from fhirserver.interactions.hooks import WriteEvent
    from fhirserver.storage.base import StoredResource

CATEGORY_SYSTEM = "https://dui.example.org/fhir/CodeSystem/access-delegation"
CATEGORY_CODE = "delegation"
SCOPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/consentscope"
ACTION_SYSTEM = "http://terminology.hl7.org/CodeSystem/consentaction"
TYPES_SYSTEM = "http://hl7.org/fhir/resource-types"
#: longest delegation (days between provision.period.start and end); a setting later (tell the lead)
MAX_DAYS = 366


@dataclass(frozen=True)
class Delegation:
    """One active delegation as the access policy uses it."""

    consent_id: str
    patient: str
    related_person: str
    actions: frozenset[str]
    denied_types: frozenset[str]
    denied_codes: frozenset[tuple[str | None, str]]

    def excludes(self, resource: dict[str, Any]) -> bool:
        """True when the delegation leaves ``resource`` out (its type or one of its codes is denied)."""
        if resource.get("resourceType") in self.denied_types:
            return True
        if not self.denied_codes:
            return False
        return any(code in self.denied_codes or (None, code[1]) in self.denied_codes for code in codes_of(resource))


def codes_of(resource: dict[str, Any]) -> set[tuple[str | None, str]]:
    """(system, code) of the resource's ``type``, ``code`` and ``category`` codings."""
    out: set[tuple[str | None, str]] = set()
    for key in ("type", "code", "category"):
        value = resource.get(key)
        for concept in value if isinstance(value, list) else [value]:
            if not isinstance(concept, dict):
                continue
            for coding in concept.get("coding") or []:
                if isinstance(coding, dict) and isinstance(coding.get("code"), str):
                    out.add((coding.get("system"), coding["code"]))
    return out


def _has_coding(concepts: Any, system: str, code: str) -> bool:
    for concept in concepts if isinstance(concepts, list) else [concepts]:
        if isinstance(concept, dict):
            for coding in concept.get("coding") or []:
                if isinstance(coding, dict) and coding.get("system") == system and coding.get("code") == code:
                    return True
    return False


def is_delegation(resource: dict[str, Any]) -> bool:
    return resource.get("resourceType") == "Consent" and _has_coding(resource.get("category"), CATEGORY_SYSTEM,
                                                                       CATEGORY_CODE)


# --- dates -------------------------------------------------------------------------------------------

def parse_instant(value: Any, upper: bool = False) -> datetime | None:
    """A FHIR date / dateTime as an aware datetime (partial dates: their first instant, or the last one when
    ``upper``); None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    try:
        if len(text) == 4:
            start = datetime(int(text), 1, 1, tzinfo=UTC)
            end = datetime(int(text) + 1, 1, 1, tzinfo=UTC)
        elif len(text) == 7:
            year, month = int(text[:4]), int(text[5:7])
            start = datetime(year, month, 1, tzinfo=UTC)
            end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
        elif len(text) == 10:
            start = datetime.fromisoformat(text).replace(tzinfo=UTC)
            end = start + timedelta(days=1)
        else:
            parsed = datetime.fromisoformat(text)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except ValueError:
        return None
    return end - timedelta(microseconds=1) if upper else start


def period_covers(period: Any, now: datetime) -> bool:
    """True when ``now`` is inside the FHIR Period (an open side is unbounded; an unreadable bound fails)."""
    if not isinstance(period, dict):
        return True
    if period.get("start") is not None:
        start = parse_instant(period.get("start"))
        if start is None or start > now:
            return False
    if period.get("end") is not None:
        end = parse_instant(period.get("end"), upper=True)
        if end is None or end < now:
            return False
    return True


# --- reading a delegation ------------------------------------------------------------------------------

def _ref_id(ref: Any, rt: str) -> str | None:
    text = ref.get("reference") if isinstance(ref, dict) else None
    if isinstance(text, str) and text.startswith(rt + "/") and "/" not in text[len(rt) + 1:]:
        return text[len(rt) + 1:]
    return None


def actors(consent: dict[str, Any]) -> list[str]:
    provision = consent.get("provision") or {}
    return [rid for a in provision.get("actor") or [] if (rid := _ref_id((a or {}).get("reference"),
                                                                         "RelatedPerson"))]


def active_delegation(consent: dict[str, Any], now: datetime) -> Delegation | None:
    """The delegation ``consent`` grants at ``now``; None when it is not an active, current delegation."""
    if not is_delegation(consent) or consent.get("status") != "active":
        return None
    provision = consent.get("provision") or {}
    patient = _ref_id(consent.get("patient"), "Patient")
    people = actors(consent)
    if provision.get("type") != "permit" or patient is None or len(people) != 1:
        return None
    period = provision.get("period")
    if not isinstance(period, dict) or not period.get("end") or not period_covers(period, now):
        return None
    actions = {c.get("code") for a in provision.get("action") or [] for c in (a or {}).get("coding") or []
               if isinstance(c, dict) and c.get("system") == ACTION_SYSTEM}
    types: set[str] = set()
    codes: set[tuple[str | None, str]] = set()
    for sub in provision.get("provision") or []:
        if not isinstance(sub, dict) or sub.get("type") != "deny":
            continue
        types |= {c["code"] for c in sub.get("class") or [] if isinstance(c, dict) and isinstance(c.get("code"), str)}
        for concept in sub.get("code") or []:
            for coding in (concept or {}).get("coding") or []:
                if isinstance(coding, dict) and isinstance(coding.get("code"), str):
                    codes.add((coding.get("system"), coding["code"]))
    return Delegation(consent_id=str(consent.get("id")), patient=patient, related_person=people[0],
                      actions=frozenset(a for a in actions if isinstance(a, str) and a in ("access", "collect")),
                      denied_types=frozenset(types), denied_codes=frozenset(codes))


# --- validation on write --------------------------------------------------------------------------------

def problems(consent: dict[str, Any]) -> list[str]:
    """What is wrong with a delegation Consent (empty: valid), without reading other resources."""
    out: list[str] = []
    provision = consent.get("provision")
    if not isinstance(provision, dict):
        return ["a delegation needs a provision (type permit, period, actor, action)"]
    if _ref_id(consent.get("patient"), "Patient") is None:
        out.append("Consent.patient must reference the usager (Patient/[id])")
    if not _has_coding(consent.get("scope"), SCOPE_SYSTEM, "patient-privacy"):
        out.append("Consent.scope must be consentscope patient-privacy")
    if provision.get("type") != "permit":
        out.append("Consent.provision.type must be permit")
    out += _period_problems(provision.get("period"))
    people = provision.get("actor") or []
    if len(people) != 1 or len(actors(consent)) != 1:
        out.append("Consent.provision.actor must be exactly one RelatedPerson/[id] (the aidant)")
    elif not (people[0] or {}).get("role"):
        out.append("Consent.provision.actor.role is required")
    codes = {c.get("code") for a in provision.get("action") or [] for c in (a or {}).get("coding") or []
             if isinstance(c, dict) and c.get("system") == ACTION_SYSTEM}
    if "access" not in codes:
        out.append("Consent.provision.action must include consentaction access")
    if codes - {"access", "collect"}:
        out.append("Consent.provision.action: only consentaction access and collect are allowed")
    for sub in provision.get("provision") or []:
        if not isinstance(sub, dict) or sub.get("type") != "deny" or not (sub.get("class") or sub.get("code")):
            out.append("a nested provision must be type deny with class (resource types) or code")
    return out


def _period_problems(period: Any) -> list[str]:
    if not isinstance(period, dict) or not period.get("start") or not period.get("end"):
        return ["Consent.provision.period needs a start and an end"]
    start, end = parse_instant(period["start"]), parse_instant(period["end"], upper=True)
    if start is None or end is None:
        return ["Consent.provision.period: start and end must be FHIR dates or dateTimes"]
    if end < start:
        return ["Consent.provision.period.end is before its start"]
    if end - start > timedelta(days=MAX_DAYS + 1):
        return [f"a delegation lasts at most {MAX_DAYS} days (provision.period)"]
    return []


class DelegationHook:
    """Write hook: a delegation Consent must follow the convention, and its aidant must be a RelatedPerson of the
    same usager (read in the write's own session)."""

    def before_write(self, event: WriteEvent) -> dict[str, Any]:
        body = event.body
        if event.resource_type != "Consent" or not is_delegation(body):
            return body
        found = problems(body)
        if not found:
            patient = _ref_id(body.get("patient"), "Patient")
            rp_id = actors(body)[0]
            stored = event.session.read("RelatedPerson", rp_id)
            rp = stored.content if stored is not None and not stored.deleted else None
            if not rp or _ref_id(rp.get("patient"), "Patient") != patient:
                found.append(f"RelatedPerson/{rp_id} is not a RelatedPerson of Patient/{patient}")
        if found:
            raise Unprocessable("this delegation Consent is not valid: " + found[0],
                                [Issue(text, code="business-rule", expression=("Consent",)) for text in found])
        return body

    def after_write(self, event: WriteEvent, stored: StoredResource) -> None:
        return None


def build_consent(patient: str, related_person: str, start: str, end: str, *, collect: bool = False,
                  deny_types: tuple[str, ...] = (), performer: str | None = None,
                  consent_id: str | None = None) -> dict[str, Any]:
    """A delegation Consent following the convention above (``dui delegations add``)."""
    actions = ["access", "collect"] if collect else ["access"]
    provision: dict[str, Any] = {
        "type": "permit", "period": {"start": start, "end": end},
        "actor": [{"role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                                        "code": "POWATT"}]},
                   "reference": {"reference": f"RelatedPerson/{related_person}"}}],
        "action": [{"coding": [{"system": ACTION_SYSTEM, "code": a}]} for a in actions]}
    if deny_types:
        provision["provision"] = [{"type": "deny", "class": [{"system": TYPES_SYSTEM, "code": t}
                                                             for t in deny_types]}]
    consent: dict[str, Any] = {
        "resourceType": "Consent", "status": "active",
        "scope": {"coding": [{"system": SCOPE_SYSTEM, "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": CATEGORY_SYSTEM, "code": CATEGORY_CODE}]}],
        "patient": {"reference": f"Patient/{patient}"},
        "performer": [{"reference": performer or f"Patient/{patient}"}], "provision": provision}
    if consent_id:
        consent["id"] = consent_id
    return consent
