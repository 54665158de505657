"""Authorization (the authorization issue): SMART App Launch 2.2 / Backend Services authorization server on
Authlib, local accounts, and the access policy every FHIR interaction goes through.

Modules: :mod:`scopes` (SMART scope grammar), :mod:`server` (Authlib grants and endpoints), :mod:`assertion`
(private_key_jwt), :mod:`bearer` (token validation), :mod:`policy` (the scope access policy), :mod:`store` and
:mod:`schema` (tables), :mod:`views` (the Flask adapter and its French pages), :mod:`first_party` (the portals'
clients and session grants), :mod:`logins` (external logins, invitations), :mod:`cli` (``dui clients``,
``dui users``, ``dui launch``).
"""

from __future__ import annotations

from typing import Any


def init_app(app: Any, ctx: Any) -> None:
    """Attach the authorization server's routes and the bearer-token check to the Flask app (its state in
    ``app.extensions["dui_auth"]``, the logins' in ``app.extensions["dui_logins"]``). The scope access policy is on
    the context already (:func:`fhirserver.domain.configure`), so in-process callers are bounded like the API."""
    from fhirserver.auth.keys import SigningKey
    from fhirserver.auth.server import SmartServer
    from fhirserver.auth.store import AuthStore
    from fhirserver.auth.views import AuthState, register
    from fhirserver.web import current_urls

    store = AuthStore(ctx.repo.engine)
    key = SigningKey(ctx.repo.engine, ctx.settings.auth.signing_key_file)
    server = SmartServer(store, ctx.settings, key, current_urls)
    register(app, AuthState(ctx, store, server))
    from fhirserver.auth.logins.providers import load_providers
    from fhirserver.auth.logins.store import IdentityStore
    from fhirserver.auth.logins.views import LoginsState
    from fhirserver.auth.logins.views import register as register_logins

    register_logins(app, LoginsState(load_providers(ctx.settings), IdentityStore(ctx.repo.engine)))
