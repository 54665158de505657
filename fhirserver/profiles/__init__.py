"""Profile validation as data: StructureDefinition-like rule files in ``config/profiles/`` (format in
``config/profiles/README.md``), one engine to evaluate them."""

from __future__ import annotations

from pathlib import Path

from fhirserver.profiles.model import ProfileError
from fhirserver.profiles.registry import ProfileRegistry, load_registry, registry_for
from fhirserver.profiles.validator import ProfileValidator
from fhirserver.settings import Settings

__all__ = ["ProfileError", "ProfileRegistry", "ProfileValidator", "load_registry", "profile_validator",
           "registry_for"]


def profile_validator(settings: Settings) -> ProfileValidator:
    """The validator of ``settings`` (profiles loaded once per directory and process)."""
    directory = Path(settings.config_dir) / settings.validation.profiles_dir
    return ProfileValidator(registry_for(directory), strict=settings.validation.strict_profiles)
