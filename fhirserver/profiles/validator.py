"""The profile validator plugged into the write seam and ``$validate`` (``fhirserver.interactions.hooks.Validator``).

For each profile URL asked for (``meta.profile`` on write, the ``profile`` parameter of ``$validate``):
- a known profile: the issues of its rules and of every known profile of its ``baseDefinition`` chain;
- a known profile of another resource type: an error;
- an unknown profile: a warning (``not-supported``), or an error when ``settings.validation.strict_profiles``.
Identical issues reached twice (a resource claiming both a profile and its base) are reported once.
"""

from __future__ import annotations

from typing import Any

from fhirserver.errors import Issue
from fhirserver.profiles.evaluator import evaluate
from fhirserver.profiles.registry import ProfileRegistry


class ProfileValidator:
    def __init__(self, registry: ProfileRegistry, strict: bool = False) -> None:
        self.registry = registry
        self.strict = strict

    def issues(self, resource: dict[str, Any], profiles: list[str]) -> list[Issue]:
        out: list[Issue] = []
        seen: set[tuple[str, str, tuple[str, ...]]] = set()
        rtype = resource.get("resourceType")
        for url in dict.fromkeys(profiles):
            profile = self.registry.get(url)
            if profile is None:
                out.append(Issue(f"profile {url} is not known to this server: validated against the base FHIR R4 "
                                 f"specification only", code="not-supported",
                                 severity="error" if self.strict else "warning", expression=(str(rtype),)))
                continue
            if profile.type != rtype:
                out.append(Issue(f"{profile.id}: profile {url} constrains {profile.type}, not {rtype}",
                                 code="structure", expression=(str(rtype),)))
                continue
            for owner in profile.chain:
                prefix = f"{profile.id}: " if owner is profile else f"{profile.id} (from {owner.id}): "
                for issue in evaluate(owner, resource, self.registry.terminology, prefix):
                    key = (owner.url, issue.diagnostics[len(prefix):], issue.expression)
                    if key not in seen:
                        seen.add(key)
                        out.append(issue)
        return out
