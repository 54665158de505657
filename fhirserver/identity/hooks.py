"""The RNIV rules on every Patient write (a :class:`~fhirserver.interactions.hooks.WriteHook`).

Plain writes (POST, PUT, PATCH, transaction entries):

1. **Wire form.** The identity-reliability extension is read in either FR Core version (status derived from the
   coding plus the evidence, :mod:`fhirserver.identity.reliability`) and rewritten as one extension in the
   configured version (``settings.identity.fr_core_version``) -- unless it is unreadable or lacks the evidence
   its status needs, in which case it is left as sent and
   :class:`~fhirserver.identity.validator.IdentityValidator` refuses the write with the reason.
2. **Trait change => downgrade.** When the stored identity is above *provisoire* and the write changes a strict
   INS trait (birth family name, first birth given name, list of birth given names, sex, birth date, birth place
   INSEE code -- exact comparison: an accent is a change), the status becomes what
   :func:`~fhirserver.identity.status.downgrade_on_trait_change` gives (*provisoire*: the INSi answer no longer
   matches and no document was read during a plain write), whatever status the body declares. The evidence of
   the lost criteria is removed, an INS profile claim (``fr-core-patient-ins``, ``tddui-patient-ins``) is
   dropped, the INS identifier is **kept** (it is needed for the next INSi verification, and the sharing rule
   keeps it inside the system), and a Provenance ``trait-change-downgrade`` names the changed traits. Only the
   ``$ins-lookup`` operation may change traits without a downgrade: the new traits come from the INSi itself.
   This is what an identitovigilance referent expects: a status is only as good as the checks still valid for
   the traits on record, and the change must be traceable.
3. **Declared status.** A status declared higher than the stored one (or above *provisoire* on a create) is
   accepted when consistent -- an INS identifier with a valid key for *récupérée* / *qualifiée*, the evidence
   present, not flagged doubtful / fictitious (validator) -- because imports and record transfers legitimately
   carry a status established elsewhere; it is recorded with a Provenance ``declared-status``. A lower declared
   status is recorded as ``status-change``.
4. **Sharing rule.** ``meta.profile`` claiming an INS profile on a non-qualified identity is refused by the
   validator (422, explicit OperationOutcome) -- except after a downgrade made here, where the claim is dropped.

The identity operations set ``event.notes[OPERATION_NOTE]`` to their activity: they write their own Provenance.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fhirserver.identity import provenance
from fhirserver.identity.reliability import (
    Reliability,
    consistent,
    evidence_problems,
    normalize,
    read_reliability,
)
from fhirserver.identity.sharing import INS_PROFILES, status_of
from fhirserver.identity.status import IdentityStatus, IdentityStatusError, downgrade_on_trait_change
from fhirserver.identity.traits import TRAIT_LABELS, changed_traits, read_traits
from fhirserver.interactions.hooks import WriteEvent
from fhirserver.storage.base import StoredResource

__all__ = ["OPERATION_NOTE", "IdentityHook", "drop_ins_profiles"]

#: ``WriteEvent.notes`` key an identity operation sets to its activity ("ins-lookup", "identity-validate")
OPERATION_NOTE = "identity.operation"
_CHANGE_NOTE = "identity.change"


def drop_ins_profiles(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` without INS profile claims in ``meta.profile``."""
    meta = body.get("meta")
    if not isinstance(meta, dict) or not isinstance(meta.get("profile"), list):
        return body
    kept = [p for p in meta["profile"] if not (isinstance(p, str) and p.split("|", 1)[0] in INS_PROFILES)]
    new_meta = {**meta, "profile": kept} if kept else {k: v for k, v in meta.items() if k != "profile"}
    return {**body, "meta": new_meta}


def _gains(src: IdentityStatus, dst: IdentityStatus) -> bool:
    return (dst.insi_retrieved and not src.insi_retrieved) or (dst.document_checked and not src.document_checked)


def _label(status: IdentityStatus) -> str:
    return status.label_fr.removeprefix("Identité ")


class IdentityHook:
    """See the module docstring."""

    def __init__(self, fr_core_version: str = "2.1") -> None:
        self.version = fr_core_version

    def before_write(self, event: WriteEvent) -> dict[str, Any]:
        if event.resource_type != "Patient":
            return event.body
        body = event.body
        try:
            rel = read_reliability(body)
        except IdentityStatusError:
            return body  # the validator reports it
        existing = event.existing if event.existing is not None and not event.existing.deleted else None
        old_content = existing.content if existing is not None else None
        old = status_of(old_content) if old_content is not None else None
        operation = event.notes.get(OPERATION_NOTE)
        declared = rel.status if rel else IdentityStatus.PROVISIONAL
        final = declared
        if old_content is not None and old is not None and old is not IdentityStatus.PROVISIONAL \
                and operation != "ins-lookup":
            changed = changed_traits(read_traits(old_content), read_traits(body))
            if changed:
                final = downgrade_on_trait_change(old)
                rel = consistent(replace(rel or Reliability(final), status=final))
                if not final.may_share_ins:
                    body = drop_ins_profiles(body)
                event.notes[_CHANGE_NOTE] = ("trait-change-downgrade", old, final, changed)
        if operation is None and _CHANGE_NOTE not in event.notes:
            if old is None and final is not IdentityStatus.PROVISIONAL:
                event.notes[_CHANGE_NOTE] = ("declared-status", IdentityStatus.PROVISIONAL, final, [])
            elif old is not None and final is not old:
                activity = "declared-status" if _gains(old, final) else "status-change"
                event.notes[_CHANGE_NOTE] = (activity, old, final, [])
        if rel is None or evidence_problems(rel):
            return body  # no extension (provisional), or the validator explains what is missing
        return normalize(body, rel, self.version)

    def after_write(self, event: WriteEvent, stored: StoredResource) -> None:
        note = event.notes.get(_CHANGE_NOTE)
        if note is None or event.resource_type != "Patient":
            return
        if event.existing is not None and stored.version_id == event.existing.version_id:
            return  # nothing was written (no-op update)
        activity, old, new, changed = note
        if activity == "trait-change-downgrade":
            traits = ", ".join(TRAIT_LABELS[t] for t in changed)
            reason = (f"strict INS trait changed ({traits}): identity status '{_label(old)}' lowered to "
                      f"'{_label(new)}' (RNIV); a new INSi call and document check are needed")
        elif activity == "declared-status":
            reason = f"identity status '{_label(new)}' declared on write (previously '{_label(old)}')"
        else:
            reason = f"identity status changed from '{_label(old)}' to '{_label(new)}' on write"
        provenance.record(event.session, [f"Patient/{stored.res_id}/_history/{stored.version_id}"], activity,
                          principal=event.req.principal, reason=reason)
