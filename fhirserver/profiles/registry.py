"""Loading ``config/profiles/``: code systems, value sets (expanded once), then every profile, with its base chain.

Everything is checked at load time — a malformed rule, an invariant that does not parse, a binding to a value set
that is not there, a base-definition cycle — and raises :class:`ProfileError` naming the file. Loaded registries
are cached per directory: the files are read once per process, never per request.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fhirserver.profiles.model import Profile, ProfileError, parse_profile, profile_id
from fhirserver.profiles.terminology import Terminology

FHIR_BASE = "http://hl7.org/fhir/StructureDefinition/"


@dataclass
class ProfileRegistry:
    terminology: Terminology
    profiles: dict[str, Profile] = field(default_factory=dict)  # canonical url (no version) -> profile
    directory: Path | None = None

    def get(self, url: str) -> Profile | None:
        return self.profiles.get(url.split("|", 1)[0])

    def by_id(self, pid: str) -> Profile | None:
        return next((p for p in self.profiles.values() if p.id == pid), None)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ProfileError(f"{path}: not readable JSON ({exc})") from exc


def load_registry(directory: Path) -> ProfileRegistry:
    """Read and check every file under ``directory`` (a missing directory gives an empty registry)."""
    term = Terminology()
    for cs_file in sorted((directory / "codesystems").glob("*.json")):
        term.add_code_system(_read_json(cs_file), str(cs_file))
    for vs_file in sorted((directory / "valuesets").glob("*.json")):
        term.add_value_set(_read_json(vs_file), str(vs_file))
    term.expand_all()
    registry = ProfileRegistry(term, directory=directory)
    known_vs = {u for u in term.value_sets if "|" not in u}
    for file in sorted(directory.glob("*.json")):
        profile = parse_profile(_read_json(file), str(file), known_vs)
        if profile.url in registry.profiles:
            raise ProfileError(f"{file}: profile {profile.url} is also defined in {registry.profiles[profile.url].file}")
        registry.profiles[profile.url] = profile
    ids: dict[str, str] = {}
    for profile in registry.profiles.values():
        if profile.id in ids:
            raise ProfileError(f"{profile.file}: profile id {profile.id} is also used by {ids[profile.id]}")
        ids[profile.id] = profile.file
        profile.chain = _chain(registry, profile)
    return registry


def _chain(registry: ProfileRegistry, profile: Profile) -> list[Profile]:
    chain = [profile]
    base = profile.base
    while base and not base.startswith(FHIR_BASE):
        parent = registry.get(base)
        if parent is None:
            break  # a base profile this server does not have: only its descendants' rules apply (documented)
        if parent in chain:
            raise ProfileError(f"{profile.file}: baseDefinition cycle "
                               f"{' -> '.join(p.id for p in chain)} -> {parent.id}")
        if parent.type != profile.type:
            raise ProfileError(f"{profile.file}: base profile {parent.id} constrains {parent.type}, "
                               f"not {profile.type}")
        chain.append(parent)
        base = parent.base
    if base and base.startswith(FHIR_BASE) and profile_id(base) != profile.type:
        raise ProfileError(f"{profile.file}: baseDefinition {base} is not the {profile.type} resource")
    return chain


_CACHE: dict[str, ProfileRegistry] = {}
_LOCK = threading.Lock()


def registry_for(directory: Path) -> ProfileRegistry:
    """The registry of ``directory``, loaded once per process."""
    key = str(directory.resolve())
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = load_registry(directory)
        return _CACHE[key]
