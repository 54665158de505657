"""The absolute URLs of the authorization server, derived from the FHIR base URL (pure, no Flask).

The issuer is ``[auth] issuer`` when configured, else the FHIR base URL without its ``/fhir`` suffix; the
endpoints live under ``{issuer}/auth/``. Used by the SMART configuration, the CapabilityStatement ``oauth-uris``
extension (https://hl7.org/fhir/smart-app-launch/conformance.html) and the token checks.
"""

from __future__ import annotations

from dataclasses import dataclass

from fhirserver.settings import Settings


@dataclass(frozen=True)
class Urls:
    fhir_base: str
    issuer: str

    def auth(self, name: str) -> str:
        return f"{self.issuer}/auth/{name}"


def urls_for(settings: Settings, fhir_base: str) -> Urls:
    base = fhir_base.rstrip("/")
    issuer = settings.auth.issuer.rstrip("/")
    if not issuer:
        issuer = base[: -len("/fhir")] if base.endswith("/fhir") else base
    return Urls(fhir_base=base, issuer=issuer)
