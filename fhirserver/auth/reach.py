"""Which usagers a user can reach, computed from FHIR resources on every request (no cache: a removed
PractitionerRole, a closed CareTeam or a revoked delegation applies to the next request; ASVS 8.3.2).

- usager (fhirUser ``Patient/X``): X and the extra Patient records linked to the account (``dui users link``);
- aidant (``RelatedPerson/Y``, or ``Person/Z`` whose ``Person.link`` targets RelatedPersons): the patients of their
  active delegations (:mod:`fhirserver.auth.delegation`) — account links grant nothing;
- professional (``Practitioner/X`` or ``PractitionerRole/Y``): the usagers of their structures — the Organizations of
  their active PractitionerRoles whose period covers now, and their sub-structures (``Organization.partOf``, up to
  :data:`MAX_DEPTH` levels), a Patient belonging to a structure through ``Patient.managingOrganization`` — and the
  subjects of the active CareTeams ("cercle de soins") where they (or one of their roles) are a current participant.
  A ``PractitionerRole/Y`` user acts in that role only (its structure), but the care teams of its practitioner count.
- any other user: nobody.

Care-team membership needs no structure: a professional of structure A in the care team of a usager of structure B
reaches that usager. The usager list is materialised (at most :data:`LIMIT` per query; see the README's limits).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fhirserver.auth.administration import ADMINISTRATEUR, ADMISSION, habilitations
from fhirserver.auth.delegation import Delegation, active_delegation, period_covers

if TYPE_CHECKING:
    from fhirserver.interactions.context import Context
    from fhirserver.storage.sql.repository import SqlSession

LIMIT = 10000
MAX_DEPTH = 5
PROFESSIONAL_TYPES = frozenset({"Practitioner", "PractitionerRole"})
AIDANT_TYPES = frozenset({"RelatedPerson", "Person"})


@dataclass(frozen=True)
class Reach:
    kind: str  # "usager" | "aidant" | "professional" | "other"
    patients: frozenset[str]
    structures: frozenset[str] = frozenset()
    care_teams: frozenset[str] = frozenset()
    #: the professional's own references (Practitioner/X, PractitionerRole/Y): care-team members, document authors
    identities: frozenset[str] = frozenset()
    related_persons: frozenset[str] = frozenset()
    delegations: tuple[Delegation, ...] = field(default_factory=tuple)
    #: structures (and sub-structures) where a professional holds the habilitation ``administrateur`` / may admit
    #: usagers (``admission`` or ``administrateur``): :mod:`fhirserver.auth.administration`
    administers: frozenset[str] = frozenset()
    admits: frozenset[str] = frozenset()

    def delegations_for(self, patient: str) -> list[Delegation]:
        return [d for d in self.delegations if d.patient == patient]

    @property
    def collect_patients(self) -> frozenset[str]:
        """Usagers the aidant may add data for (delegations with ``collect``)."""
        return frozenset(d.patient for d in self.delegations if "collect" in d.actions)


def kind_of(fhir_user: str | None) -> str:
    rtype = (fhir_user or "").split("/", 1)[0]
    if rtype == "Patient":
        return "usager"
    if rtype in AIDANT_TYPES:
        return "aidant"
    if rtype in PROFESSIONAL_TYPES:
        return "professional"
    return "other"


def compute(ctx: Context, session: SqlSession, fhir_user: str | None, linked: Sequence[str],
            now: datetime | None = None) -> Reach:
    """The reach of a user (``linked``: the Patient ids of the account, own record first)."""
    moment = now or datetime.now(UTC)
    kind = kind_of(fhir_user)
    rtype, _, rid = (fhir_user or "").partition("/")
    if kind == "usager":
        return Reach(kind, frozenset(linked) | {rid})
    if kind == "aidant":
        return _aidant(ctx, session, rtype, rid, moment)
    if kind == "professional":
        return _professional(ctx, session, rtype, rid, moment)
    return Reach(kind, frozenset())


def find(ctx: Context, session: SqlSession, rt: str, params: list[tuple[str, str]]) -> list[dict[str, Any]]:
    query = ctx.parser.parse((rt,), params)
    return [s.content for s in session.search_ids(query, LIMIT) if s.content]


def read(session: SqlSession, rt: str, rid: str) -> dict[str, Any] | None:
    stored = session.read(rt, rid)
    return stored.content if stored is not None and not stored.deleted and stored.content else None


def _ref(value: Any, rt: str) -> str | None:
    text = value.get("reference") if isinstance(value, dict) else None
    if isinstance(text, str) and text.startswith(rt + "/") and "/" not in text[len(rt) + 1:]:
        return text[len(rt) + 1:]
    return None


# --- aidants --------------------------------------------------------------------------------------------

def _aidant(ctx: Context, session: SqlSession, rtype: str, rid: str, now: datetime) -> Reach:
    people: set[str] = set()
    if rtype == "RelatedPerson":
        people.add(rid)
    else:
        person = read(session, "Person", rid) or {}
        people |= {t for link in person.get("link") or [] if (t := _ref((link or {}).get("target"), "RelatedPerson"))}
    owners = {p: _ref((read(session, "RelatedPerson", p) or {}).get("patient"), "Patient") for p in people}
    delegations: list[Delegation] = []
    if people:
        value = ",".join(f"RelatedPerson/{p}" for p in sorted(people))
        for consent in find(ctx, session, "Consent", [("actor", value), ("status", "active")]):
            found = active_delegation(consent, now)
            if found is not None and owners.get(found.related_person) == found.patient:
                delegations.append(found)
    delegations.sort(key=lambda d: d.consent_id)
    patients = frozenset(d.patient for d in delegations if "access" in d.actions)
    return Reach("aidant", patients, related_persons=frozenset(people), delegations=tuple(delegations))


# --- professionals ----------------------------------------------------------------------------------------

def _current_role(role: dict[str, Any], now: datetime) -> bool:
    return role.get("active") is not False and period_covers(role.get("period"), now)


def _professional(ctx: Context, session: SqlSession, rtype: str, rid: str, now: datetime) -> Reach:
    identities = {f"{rtype}/{rid}"}
    if rtype == "Practitioner":
        roles = find(ctx, session, "PractitionerRole", [("practitioner", f"Practitioner/{rid}")])
        members = set(identities)
    else:
        role = read(session, "PractitionerRole", rid)
        roles = [role] if role else []
        practitioner = _ref((role or {}).get("practitioner"), "Practitioner")
        members = set(identities) | ({f"Practitioner/{practitioner}"} if practitioner else set())
    current = [r for r in roles if _current_role(r, now)]
    identities |= {f"PractitionerRole/{r['id']}" for r in current if r.get("id")}
    members |= identities
    # one walk of the partOf tree from every role's structure; the habilitations' structures are among its roots
    children = _sub_structures(ctx, session, _orgs(current))
    structures = _below(children, _orgs(current))
    administers = _below(children, _orgs(r for r in current if ADMINISTRATEUR in habilitations(r)))
    admits = administers | _below(children, _orgs(r for r in current if ADMISSION in habilitations(r)))
    patients: set[str] = set()
    if structures:
        value = ",".join(f"Organization/{o}" for o in sorted(structures))
        patients |= {str(p["id"]) for p in find(ctx, session, "Patient", [("organization", value)])}
    teams, subjects = _care_teams(ctx, session, members, now)
    return Reach("professional", frozenset(patients | subjects), structures=frozenset(structures),
                 care_teams=frozenset(teams), identities=frozenset(identities),
                 administers=frozenset(administers), admits=frozenset(admits))


def _orgs(roles: Iterable[dict[str, Any]]) -> set[str]:
    return {o for r in roles if (o := _ref(r.get("organization"), "Organization"))}


def _sub_structures(ctx: Context, session: SqlSession, roots: set[str]) -> dict[str, set[str]]:
    """Organization id -> its direct sub-structures (``partOf``), for the structures up to :data:`MAX_DEPTH` levels
    below ``roots`` (one query per level)."""
    children: dict[str, set[str]] = {}
    found, frontier = set(roots), set(roots)
    for _ in range(MAX_DEPTH):
        if not frontier:
            break
        value = ",".join(f"Organization/{o}" for o in sorted(frontier))
        for org in find(ctx, session, "Organization", [("partof", value)]):
            parent = _ref(org.get("partOf"), "Organization")
            if parent is not None:
                children.setdefault(parent, set()).add(str(org["id"]))
        frontier = {c for p in frontier for c in children.get(p, ())} - found
        found |= frontier
    return children


def _below(children: dict[str, set[str]], roots: set[str]) -> set[str]:
    """``roots`` and their sub-structures down to :data:`MAX_DEPTH` levels, from a :func:`_sub_structures` map."""
    found, frontier = set(roots), set(roots)
    for _ in range(MAX_DEPTH):
        frontier = {c for p in frontier for c in children.get(p, ())} - found
        if not frontier:
            break
        found |= frontier
    return found


def _care_teams(ctx: Context, session: SqlSession, members: set[str], now: datetime) -> tuple[set[str], set[str]]:
    teams: set[str] = set()
    subjects: set[str] = set()
    value = ",".join(sorted(members))
    for team in find(ctx, session, "CareTeam", [("participant", value), ("status", "active")]):
        if not period_covers(team.get("period"), now):
            continue
        current = [p for p in team.get("participant") or [] if isinstance(p, dict)
                   and (p.get("member") or {}).get("reference") in members and period_covers(p.get("period"), now)]
        subject = _ref(team.get("subject"), "Patient")
        if current and subject:
            teams.add(str(team.get("id")))
            subjects.add(subject)
    return teams, subjects
