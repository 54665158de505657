"""Staff invitations: the only way an external identity (or a new local account) is bound for the first time to a
usager (``Patient/X``) or an aidant (``RelatedPerson/Y``).

One-time, expiring (7 days by default), the token stored as SHA-256 only; the invitation URL is
``<issuer>/auth/invitation/<token>``. Binding and marking used are atomic (:meth:`IdentityStore.bind_invitation`).
"""

from __future__ import annotations

import re
from typing import Any

from fhirserver.auth.logins.records import read
from fhirserver.auth.logins.store import IdentityStore
from fhirserver.interactions.context import Context

TARGET = re.compile(r"^(Patient|RelatedPerson)/[A-Za-z0-9\-.]{1,64}$")
DEFAULT_DAYS = 7
MAX_DAYS = 90


class InvitationError(ValueError):
    pass


def url_for(issuer: str, token: str) -> str:
    return f"{issuer.rstrip('/')}/auth/invitation/{token}"


def patients_of(fhir_user: str, record: dict[str, Any]) -> tuple[str, ...]:
    """The usagers an account of ``fhir_user`` acts for besides its own record: the RelatedPerson's patient."""
    if not fhir_user.startswith("RelatedPerson/"):
        return ()
    ref = str((record.get("patient") or {}).get("reference") or "")
    kind, _, pid = ref.partition("/")
    return (pid,) if kind == "Patient" and pid else ()


def create(ctx: Context, store: IdentityStore, fhir_user: str, days: int = DEFAULT_DAYS,
           created_by: str | None = None) -> tuple[str, str]:
    """(invitation id, token) for an existing Patient / RelatedPerson; :class:`InvitationError` otherwise."""
    if not TARGET.match(fhir_user):
        raise InvitationError("the invitation must name Patient/<id> or RelatedPerson/<id>")
    if not 1 <= days <= MAX_DAYS:
        raise InvitationError(f"the validity must be between 1 and {MAX_DAYS} days")
    if read(ctx, fhir_user) is None:
        raise InvitationError(f"{fhir_user} does not exist")
    return store.create_invitation(fhir_user, days, created_by)
