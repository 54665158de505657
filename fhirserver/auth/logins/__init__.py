"""External logins: this server as an OpenID Connect relying party of Pro Santé Connect (professionals) and of a
FranceConnect-style provider (usagers and aidants), and the staff invitations that bind an external identity to a
Patient or RelatedPerson the first time.

Modules: :mod:`providers` (configuration and discovery), :mod:`relying_party` (authorization request, code
exchange, id_token and userinfo checks), :mod:`psc` and :mod:`franceconnect` (claims → FHIR user),
:mod:`invitations` (one-time invitations), :mod:`store` / :mod:`schema` (tables), :mod:`views` (the blueprint),
:mod:`cli` (``dui invitations``).

Specs: OpenID Connect Core 1.0 (https://openid.net/specs/openid-connect-core-1_0.html), RP-Initiated Logout 1.0,
RFC 7636 (PKCE), RFC 9207 (``iss`` on the callback); ../shared/specs/french-interop.md §8–9 (PSC, FranceConnect);
../shared/specs/smart-auth-portals.md §1.9, §5.3.
"""
