"""The French medico-social domain plugged into the FHIR core: validators and write hooks (see
:mod:`fhirserver.interactions.hooks`), and the services operations need (e.g. the INSi client).

The FHIR core knows nothing of INS, RNIV or FR Core; everything French is registered here.
"""

from __future__ import annotations

from typing import Any

from fhirserver.errors import Issue
from fhirserver.interactions.context import Context


class UnknownProfiles:
    """Until the profile engine lands: every claimed profile is unknown (warning, or error when strict)."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict

    def issues(self, resource: dict[str, Any], profiles: list[str]) -> list[Issue]:
        return [Issue(f"profile {url} is not known to this server: validated against the base FHIR R4 "
                      f"specification only", code="not-supported", severity="error" if self.strict else "warning")
                for url in profiles]


def configure(ctx: Context) -> Context:
    """Register validators, hooks and services on a freshly built context."""
    ctx.validators.append(UnknownProfiles(ctx.settings.strict_profiles))
    return ctx
