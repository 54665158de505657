"""Merge of two Patient records (doublon avéré), modelled on FHIR R5 ``Patient/$merge``
(https://hl7.org/fhir/R5/patient-operation-merge.html).

The *target* survives, the *source* is retired. In the caller's single database transaction:

* every resource that refers to the source — in any element at any depth, extensions and contained resources
  included — gets a new version referring to the target (relative ``Patient/src``, versioned
  ``Patient/src/_history/n`` and absolute references on this server's base alike; a versioned reference becomes
  an unversioned one: the target's versions are not the source's). Candidates come from the reference and
  compartment indexes plus a scan of the stored JSON (:meth:`SqlSession.referring_resources`), then every
  ``reference`` string is checked in the JSON;
* Provenance and AuditEvent resources are *kept* as they are: they record what happened to the source and
  rewriting them would falsify the trail; the merge result lists them;
* the target gains ``link`` {other: source, type: replaces} (and the source's own ``replaces`` links), and the
  source's identifiers it lacks, with ``use = old`` and ``period.end`` = the merge date (the source's IPP stays
  searchable but is no longer current). INS identifiers are never copied: an INS belongs with the traits and
  the status that were checked with it;
* the source becomes ``active = false`` with ``link`` {other: target, type: replaced-by};
* one Provenance (activity ``merge``) targets the new versions of the target, the source and every moved
  resource, with the previous versions as entities.

Every write goes through :func:`fhirserver.interactions.hooks.commit_write` (hooks and validators run; the
event's ``notes["merge"]`` says the write belongs to a merge). Any refusal — a moved resource that a validator
rejects — raises, and the whole transaction rolls back: nothing is half-merged.

Identity rules (RNIV): no merge of a patient into itself, into an inactive or already replaced patient, of an
already replaced source, nor of two patients with different INS matricules of the same system (homonymes, not
duplicates). When the source's identity status is higher than the target's, the merge goes on but says so: the
target's status is never raised silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fhirserver.errors import Issue, Unprocessable
from fhirserver.identity import provenance as prov
from fhirserver.identity.duplicates import ins_matricules
from fhirserver.identity.ins import is_ins_system
from fhirserver.identity.status import IdentityStatus, IdentityStatusError, from_patient
from fhirserver.interactions.hooks import WriteEvent, commit_write, validation_issues
from fhirserver.storage.base import StoredResource

if TYPE_CHECKING:
    from fhirserver.interactions.context import Context, FhirRequest
    from fhirserver.storage.sql.repository import SqlSession

#: resources recording the past: they keep referring to the source
KEPT_TYPES = frozenset({"Provenance", "AuditEvent"})
_RANK = {IdentityStatus.PROVISIONAL: 0, IdentityStatus.RECOVERED: 1, IdentityStatus.VALIDATED: 1,
         IdentityStatus.QUALIFIED: 2}


def rewrite_references(node: Any, source: str, target: str, base_url: str = "") -> tuple[Any, int]:
    """A copy of ``node`` where every ``reference`` to ``source`` (``Patient/src``) refers to ``target``, and
    the number of references rewritten. Absolute references are rewritten only on ``base_url``."""
    base = base_url.rstrip("/")
    if isinstance(node, list):
        items = [rewrite_references(item, source, target, base) for item in node]
        return [i for i, _ in items], sum(n for _, n in items)
    if not isinstance(node, dict):
        return node, 0
    out: dict[str, Any] = {}
    count = 0
    for key, value in node.items():
        if key == "reference" and isinstance(value, str):
            head = value.split("/_history/")[0]
            if head == source:
                out[key] = target
                count += 1
                continue
            if base and head == f"{base}/{source}":
                out[key] = f"{base}/{target}"
                count += 1
                continue
            out[key] = value
        else:
            out[key], n = rewrite_references(value, source, target, base)
            count += n
    return out, count


def _refers_to(link: Mapping[str, Any], ref: str, base_url: str) -> bool:
    other = (link.get("other") or {}).get("reference")
    if not isinstance(other, str):
        return False
    head = other.split("/_history/")[0]
    return head == ref or (bool(base_url) and head == f"{base_url.rstrip('/')}/{ref}")


def _link_types(patient: Mapping[str, Any], link_type: str) -> list[str]:
    return [str((link.get("other") or {}).get("reference")) for link in patient.get("link") or []
            if isinstance(link, Mapping) and link.get("type") == link_type]


def _status(patient: Mapping[str, Any]) -> IdentityStatus | None:
    try:
        return from_patient(patient)
    except IdentityStatusError:
        return None


@dataclass
class Move:
    """One resource that refers to the source: its current version and its rewritten body."""

    current: StoredResource
    body: dict[str, Any]
    references: int


@dataclass
class MergePlan:
    source: StoredResource
    target: StoredResource
    source_body: dict[str, Any]
    target_body: dict[str, Any]
    moves: list[Move] = field(default_factory=list)
    kept: list[StoredResource] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)

    @property
    def reference_count(self) -> int:
        return sum(m.references for m in self.moves)


def _refuse(message: str, param: str) -> Unprocessable:
    return Unprocessable(message, [Issue(message, code="business-rule",
                                         expression=(f"Parameters.parameter.where(name = '{param}')",))])


def check_mergeable(source: StoredResource, target: StoredResource) -> list[Issue]:
    """Raise 422 when the identity rules forbid the merge; the warnings otherwise."""
    src, tgt = source.content or {}, target.content or {}
    if source.res_id == target.res_id:
        raise _refuse(f"Patient/{source.res_id} cannot be merged into itself", "target-patient")
    replaced_by = _link_types(tgt, "replaced-by")
    if replaced_by:
        raise _refuse(f"the target Patient/{target.res_id} was already merged into {replaced_by[0]}: "
                      f"merge into {replaced_by[0]}", "target-patient")
    if tgt.get("active") is False:
        raise _refuse(f"the target Patient/{target.res_id} is inactive: a merge must keep an active record",
                      "target-patient")
    replaced_by = _link_types(src, "replaced-by")
    if replaced_by:
        raise _refuse(f"the source Patient/{source.res_id} was already merged into {replaced_by[0]}",
                      "source-patient")
    ins_src, ins_tgt = ins_matricules(src), ins_matricules(tgt)
    clash = {s for s, _ in ins_src} & {s for s, _ in ins_tgt}
    if clash and not ins_src & ins_tgt:
        raise _refuse(f"Patient/{source.res_id} and Patient/{target.res_id} carry different INS matricules: "
                      f"they are two persons (homonymes), not duplicates", "source-patient")
    warnings: list[Issue] = []
    s_status, t_status = _status(src), _status(tgt)
    if s_status is not None and _RANK[s_status] > (_RANK[t_status] if t_status is not None else 0):
        t_label = t_status.label_fr if t_status else "aucun statut"
        warnings.append(Issue(
            f"the source's identity status ({s_status.label_fr}) is higher than the target's ({t_label}); the "
            f"target keeps its status: check the target's identity (INSi, identity document) or merge the other "
            f"way round", code="business-rule", severity="warning"))
    if ins_src and not ins_tgt:
        warnings.append(Issue("the source's INS matricule is not copied to the target (an INS goes with the "
                              "traits and status checked with it)", code="informational", severity="warning"))
    elif ins_src and ins_tgt and not ins_src & ins_tgt:
        warnings.append(Issue("the two patients carry INS matricules of different systems (NIA and NIR?): the "
                              "target keeps its own", code="informational", severity="warning"))
    return warnings


def plan_merge(session: SqlSession, source: StoredResource, target: StoredResource, base_url: str = "",
               now: datetime | None = None) -> MergePlan:
    """Everything the merge would write, without writing."""
    warnings = check_mergeable(source, target)
    when = (now or datetime.now(UTC)).isoformat(timespec="seconds").replace("+00:00", "Z")
    src_ref, tgt_ref = f"Patient/{source.res_id}", f"Patient/{target.res_id}"
    src, tgt = dict(source.content or {}), dict(target.content or {})

    links = [link for link in tgt.get("link") or [] if not _refers_to(link, src_ref, base_url)]
    known = {str((link.get("other") or {}).get("reference")) for link in links}
    links.append({"other": {"reference": src_ref}, "type": "replaces"})
    for other in _link_types(src, "replaces"):
        if other not in known and other != tgt_ref:
            links.append({"other": {"reference": other}, "type": "replaces"})
    tgt["link"] = links
    have = {(i.get("system"), i.get("value")) for i in tgt.get("identifier") or [] if isinstance(i, Mapping)}
    copied = []
    for ident in src.get("identifier") or []:
        if not isinstance(ident, Mapping) or (ident.get("system"), ident.get("value")) in have:
            continue
        if is_ins_system(ident.get("system")):
            continue  # INS (and the NSS slice sharing its OID): never copied
        old = {**ident, "use": "old", "period": {**(ident.get("period") or {}), "end": when}}
        copied.append(old)
    if copied:
        tgt["identifier"] = [*(tgt.get("identifier") or []), *copied]

    src["active"] = False
    src["link"] = [link for link in src.get("link") or [] if not _refers_to(link, tgt_ref, base_url)]
    src["link"].append({"other": {"reference": tgt_ref}, "type": "replaced-by"})

    plan = MergePlan(source, target, src, tgt, warnings=warnings)
    for stored in session.referring_resources("Patient", source.res_id):
        if stored.rid in (source.rid, target.rid) or stored.content is None:
            continue
        body, count = rewrite_references(stored.content, src_ref, tgt_ref, base_url)
        if count == 0:
            continue  # the text matched (``Patient/12`` in ``Patient/123``, narrative) but no reference did
        if stored.res_type in KEPT_TYPES:
            plan.kept.append(stored)
        else:
            plan.moves.append(Move(stored, body, count))
    plan.moves.sort(key=lambda m: (m.current.res_type, m.current.res_id))
    return plan


def preview_issues(ctx: Context, plan: MergePlan) -> list[Issue]:
    """What the validators would say of each body the merge would write (``preview``)."""
    out: list[Issue] = []
    bodies = [("Patient", plan.target.res_id, plan.target_body), ("Patient", plan.source.res_id, plan.source_body)]
    bodies += [(m.current.res_type, m.current.res_id, m.body) for m in plan.moves]
    for rt, res_id, body in bodies:
        for issue in validation_issues(ctx, body):
            if issue.severity in ("error", "fatal"):
                out.append(Issue(f"{rt}/{res_id} would be refused: {issue.diagnostics}", code=issue.code,
                                 severity="error", expression=issue.expression))
    return out


@dataclass
class MergeResult:
    target: StoredResource
    source: StoredResource
    moved: list[StoredResource]
    provenance: dict[str, Any]


def _versioned(stored: StoredResource) -> str:
    return f"{stored.res_type}/{stored.res_id}/_history/{stored.version_id}"


def apply_merge(req: FhirRequest, ctx: Context, session: SqlSession, plan: MergePlan,
                reason: str | None = None) -> MergeResult:
    """Write the plan (in the caller's transaction) and record the Provenance."""
    notes = {"merge": {"source": plan.source.res_id, "target": plan.target.res_id}}

    def write(current: StoredResource, body: dict[str, Any]) -> StoredResource:
        event = WriteEvent(req, ctx, session, current.res_type, current.res_id, body, current, "update",
                           notes=dict(notes))
        return commit_write(event)

    moved: list[StoredResource] = []
    base_url = req.base_url or ""
    src_ref, tgt_ref = f"Patient/{plan.source.res_id}", f"Patient/{plan.target.res_id}"
    for move in plan.moves:
        # re-read under lock: the version the plan read may have changed since (PostgreSQL)
        current = session.read(move.current.res_type, move.current.res_id, for_update=True) or move.current
        body = move.body
        if current.version_id != move.current.version_id and current.content is not None:
            body, _ = rewrite_references(current.content, src_ref, tgt_ref, base_url)
        moved.append(write(current, body))
    source = write(plan.source, plan.source_body)
    target = write(plan.target, plan.target_body)
    entities = [{"role": "source", "what": {"reference": _versioned(plan.source)}}]
    entities += [{"role": "revision", "what": {"reference": _versioned(m.current)}} for m in plan.moves]
    text = reason or f"Fusion de dossiers : {src_ref} remplacé par {tgt_ref} (doublon)"
    record = prov.record(session, [_versioned(target), _versioned(source), *[_versioned(m) for m in moved]],
                         "merge", principal=req.principal, reason=text, entities=entities)
    return MergeResult(target, source, moved, record)
