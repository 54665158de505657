"""Seams every write goes through: validators (pure checks) and write hooks (domain rules with side effects).

Every create, update (and update-as-create, conditional update), patch — and therefore every transaction or
batch entry — calls :func:`commit_write`, which runs, in order:

1. each hook's ``before_write`` — may return a changed body (e.g. the RNIV downgrade of an identity status
   when a trait changes) or raise a :class:`~fhirserver.errors.FhirError` to refuse the write;
   then the access policy's ``check_write`` judges the final body against the stored version (who may write the
   records the reach is computed from: :mod:`fhirserver.auth.administration`);
2. every validator on the final body, with the profiles the body claims in ``meta.profile``; an error-severity
   issue refuses the write with 422 and nothing is written;
3. the repository write;
4. each hook's ``after_write`` — may write more resources in the same database transaction (Provenance).

``$validate`` runs the same validators without writing (:func:`validation_issues`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from fhirserver.errors import Issue, Unprocessable

if TYPE_CHECKING:
    from fhirserver.interactions.context import Context, FhirRequest
    from fhirserver.storage.base import StoredResource
    from fhirserver.storage.sql.repository import SqlSession


class Validator(Protocol):
    """A pure check of one resource. ``profiles`` are the profile URLs to validate against (claimed in
    ``meta.profile`` on write, or the ``profile`` parameter of ``$validate``). Returns OperationOutcome issues;
    only ``error``/``fatal`` ones refuse a write."""

    def issues(self, resource: dict[str, Any], profiles: list[str]) -> list[Issue]: ...


@dataclass
class WriteEvent:
    """One write about to happen. ``existing`` is the current stored version (None for a new id; it may be a
    deleted version). Hooks may keep notes for ``after_write`` in ``notes``."""

    req: FhirRequest
    ctx: Context
    session: SqlSession
    resource_type: str
    res_id: str
    body: dict[str, Any]
    existing: StoredResource | None
    interaction: str  # "create" | "update" | "patch"
    notes: dict[str, Any] = field(default_factory=dict)


class WriteHook(Protocol):
    def before_write(self, event: WriteEvent) -> dict[str, Any]: ...

    def after_write(self, event: WriteEvent, stored: StoredResource) -> None: ...


def claimed_profiles(resource: dict[str, Any]) -> list[str]:
    return [p for p in (resource.get("meta") or {}).get("profile", []) if isinstance(p, str)]


def validation_issues(ctx: Context, resource: dict[str, Any], profiles: list[str] | None = None) -> list[Issue]:
    """All validators' issues for ``resource`` (profiles default to the ones it claims)."""
    wanted = claimed_profiles(resource) if profiles is None else profiles
    issues: list[Issue] = []
    for validator in ctx.validators:
        issues.extend(validator.issues(resource, wanted))
    return issues


def check_valid(ctx: Context, resource: dict[str, Any]) -> list[Issue]:
    """Run the validators for a write: raise 422 on any error, return the warnings."""
    issues = validation_issues(ctx, resource)
    errors = [i for i in issues if i.severity in ("error", "fatal")]
    if errors:
        rt = resource.get("resourceType", "resource")
        first = errors[0].diagnostics
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise Unprocessable(f"{rt} is not valid: {first}{more}", errors)
    return issues


def commit_write(event: WriteEvent) -> StoredResource:
    """Hooks, validators, the repository write, after-hooks — in one database transaction."""
    ctx = event.ctx
    for hook in ctx.hooks:
        event.body = hook.before_write(event)
    existing = event.existing
    before = existing.content if existing is not None and not existing.deleted else None
    ctx.policy.check_write(event.req, event.resource_type, before, event.body)
    check_valid(ctx, event.body)
    if existing is None:
        stored = event.session.create(event.resource_type, event.body, event.res_id)
    else:
        stored = event.session.update(existing, event.body)
    for hook in ctx.hooks:
        hook.after_write(event, stored)
    return stored
