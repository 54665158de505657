"""The server's own first-party clients: the portals (``/portail`` for usagers and aidants, ``/pro`` for
professionals), and the grants their browser sessions sign in with (../shared/DESIGN.md, "a browser session is
a grant").

A portal is a client of this authorization server like any SMART app, registered in ``auth_client`` at
start-up (:func:`ensure_clients`, idempotent). When a signed-in browser enters a portal, the web shell
(:mod:`fhirserver.web.session`) opens a grant for the account (:func:`open_grant`: an ``auth_grant`` row and a
recorded access token, exactly what the token endpoint writes for a SMART app), so that the portal session:

- is listed on "Applications connectées" (``/auth/apps``) and revoked there like any app (the next portal
  request is signed out);
- gets its principal from :func:`fhirserver.auth.bearer.principal_of`, the function the bearer check uses, so
  scopes, reach, delegations and labels apply as to any SMART app;
- holds short access tokens (:data:`TOKEN_SECONDS`) re-issued for the same grant (:func:`issue_token`) while
  the browser session lives; the grant ends with the session (logout revokes it; its ``expires_at`` is the
  session's absolute end).

No token of a portal ever leaves the server: the session keeps the grant id and the current token's ``jti``,
and no JWT is signed for them. The clients are registered with the authentication method :data:`AUTH_METHOD`,
which no OAuth endpoint accepts, no redirect URI and no grant type: nobody can ask the token, authorization,
introspection or revocation endpoints anything in their name.

Scopes (the access policy bounds them further, :mod:`fhirserver.auth.policy`):

- professionals (``Practitioner/X``, ``PractitionerRole/Y``): ``user/*.cruds`` — their structures, care teams
  and habilitations decide what they reach and may write;
- usagers and aidants (``Patient/X``, ``RelatedPerson/Y``, ``Person/Z``): ``user/*.rs user/*.c
  user/Consent.u`` — ``user/`` rather than ``patient/`` + a launch patient, because an aidant acts for several
  usagers and a usager's account may hold several records (``dui users link``): one grant covers every usager
  in reach, with no patient picker. Reading and searching their records, adding to them (messages, an aidant's
  ``collect`` delegation), and updating a Consent (a usager ending a delegation they gave); never deleting,
  never changing other records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fhirserver.auth import reach
from fhirserver.auth.models import Client, User, utcnow
from fhirserver.auth.passwords import new_token
from fhirserver.auth.store import AuthStore

#: lifetime of a portal session's access tokens (re-issued for the same grant while the session lives)
TOKEN_SECONDS = 300
#: the authentication method of the portals' clients: not one the OAuth endpoints know, so none accepts them
AUTH_METHOD = "first_party"


@dataclass(frozen=True)
class Portal:
    kind: str  # "usager" (usagers and aidants) or "professional"
    client_id: str
    name: str  # shown on "Applications connectées"
    scope: str
    path: str  # where the portal is served


USAGER = Portal("usager", "dui-portail", "Portail des usagers et des aidants",
                "fhirUser user/*.rs user/*.c user/Consent.u", "/portail")
PROFESSIONAL = Portal("professional", "dui-pro", "Espace des professionnels", "fhirUser user/*.cruds", "/pro")
PORTALS: dict[str, Portal] = {p.kind: p for p in (USAGER, PROFESSIONAL)}
#: the access policy's kind of user (:func:`fhirserver.auth.reach.kind_of`) -> the portal it may enter
PORTAL_OF = {"usager": "usager", "aidant": "usager", "professional": "professional"}


def kind_of(fhir_user: str) -> str | None:
    """``"usager"`` (usagers and aidants) or ``"professional"`` for an account's fhirUser (``Patient/p1`` …),
    else None."""
    return PORTAL_OF.get(reach.kind_of(fhir_user))


def client_of(portal: Portal) -> Client:
    return Client(client_id=portal.client_id, auth_method=AUTH_METHOD, redirect_uris=[], grant_types=[],
                  scope=portal.scope, name=portal.name)


def ensure_clients(store: AuthStore) -> None:
    """Register both portals as clients (or bring their registration up to date)."""
    for portal in PORTALS.values():
        store.ensure_client(client_of(portal))


def open_grant(store: AuthStore, user: User, portal: Portal, ends: datetime,
               ttl: int = TOKEN_SECONDS) -> tuple[str, str]:
    """A grant of ``portal`` for ``user`` ending at ``ends``, with its first access token: (grant id, jti)."""
    store.ensure_client(client_of(portal))  # tables wiped since start-up (tests) or a registration edited
    grant_id = store.new_grant(portal.client_id, user.id, portal.scope, None, None, ends)
    return grant_id, issue_token(store, user, portal, grant_id, ends, ttl)


def issue_token(store: AuthStore, user: User, portal: Portal, grant_id: str, ends: datetime,
                ttl: int = TOKEN_SECONDS) -> str:
    """A new access token of the grant (its ``jti``), living ``ttl`` seconds and never past ``ends``."""
    remaining = int((ends - utcnow()).total_seconds())
    jti = new_token(18)
    lifetime = max(1, min(ttl, remaining))
    store.save_token(jti, grant_id, portal.client_id, user.id, portal.scope, lifetime, None, None)
    return jti
