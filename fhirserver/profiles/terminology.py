"""The value sets profiles bind, expanded once at load time into sets of (system, code).

Supported ``ValueSet.compose``: ``include``/``exclude`` with an explicit ``concept`` list, a whole ``system``
(the CodeSystem must be loaded from ``config/profiles/codesystems/``, ``content: complete``), and ``valueSet``
references; a pre-computed ``expansion.contains`` is used as is. Filters need a terminology server and are a
loading error (fail loudly rather than validate wrongly).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fhirserver.profiles.model import ProfileError


@dataclass
class Terminology:
    value_sets: dict[str, dict[str, Any]] = field(default_factory=dict)  # url (and url|version) -> ValueSet
    code_systems: dict[str, dict[str, Any]] = field(default_factory=dict)  # url -> CodeSystem
    expansions: dict[str, frozenset[tuple[str, str]]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # url -> file it was read from

    def add_value_set(self, resource: dict[str, Any], where: str) -> None:
        url = _canonical(resource, "ValueSet", where)
        if url in self.value_sets:
            raise ProfileError(f"{where}: value set {url} is also defined in {self.files[url]}")
        self.value_sets[url] = resource
        self.files[url] = where
        if resource.get("version"):
            self.value_sets[f"{url}|{resource['version']}"] = resource

    def add_code_system(self, resource: dict[str, Any], where: str) -> None:
        url = _canonical(resource, "CodeSystem", where)
        if url in self.code_systems:
            raise ProfileError(f"{where}: code system {url} is also defined in {self.files['cs:' + url]}")
        self.code_systems[url] = resource
        self.files["cs:" + url] = where

    def expand_all(self) -> None:
        """Expand every value set now, so that a broken one fails at start-up."""
        for url in list(self.value_sets):
            self.expand(url)

    def expand(self, url: str, _stack: tuple[str, ...] = ()) -> frozenset[tuple[str, str]]:
        if url in self.expansions:
            return self.expansions[url]
        vs = self.value_sets.get(url)
        if vs is None:
            raise ProfileError(f"value set {url} is not loaded (config/profiles/valuesets/)")
        if url in _stack:
            raise ProfileError(f"value set {url} includes itself ({' -> '.join(_stack + (url,))})")
        where = self.files.get(url.split("|", 1)[0], url)
        codes: set[tuple[str, str]] = set()
        contains = (vs.get("expansion") or {}).get("contains")
        if contains:
            codes.update(_contains(contains))
        else:
            compose = vs.get("compose") or {}
            if not compose.get("include"):
                raise ProfileError(f"{where}: value set {url} has neither compose.include nor expansion.contains")
            for inc in compose.get("include", []):
                codes |= self._component(inc, url, where, _stack + (url,))
            for exc in compose.get("exclude", []):
                codes -= self._component(exc, url, where, _stack + (url,))
        result = frozenset(codes)
        self.expansions[url] = result
        return result

    def _component(self, inc: dict[str, Any], url: str, where: str,
                   stack: tuple[str, ...]) -> set[tuple[str, str]]:
        if inc.get("filter"):
            raise ProfileError(f"{where}: value set {url} uses compose filters, which this server cannot expand; "
                               f"list the concepts explicitly")
        system = inc.get("system")
        codes: set[tuple[str, str]] | None = None
        if inc.get("concept"):
            if not system:
                raise ProfileError(f"{where}: value set {url} lists concepts without a system")
            codes = {(system, c["code"]) for c in inc["concept"]}
        elif system:
            cs = self.code_systems.get(system)
            if cs is None:
                raise ProfileError(f"{where}: value set {url} includes the whole code system {system}, which is not "
                                   f"in config/profiles/codesystems/")
            codes = {(system, code) for code in _cs_codes(cs.get("concept", []))}
        for ref in inc.get("valueSet", []):
            sub = set(self.expand(ref, stack))
            if system:
                sub = {c for c in sub if c[0] == system}
            codes = sub if codes is None else codes & sub
        if codes is None:
            raise ProfileError(f"{where}: value set {url} has an empty include")
        return codes

    def display(self, url: str) -> str:
        vs = self.value_sets.get(url) or {}
        return str(vs.get("name") or vs.get("id") or url.rsplit("/", 1)[-1])

    def contains(self, url: str, system: str | None, code: str) -> bool:
        """Is (system, code) in the value set? ``system`` None (a bare ``code`` element): any system."""
        codes = self.expand(url)
        if system is None:
            return any(c == code for _, c in codes)
        return (system, code) in codes


def _canonical(resource: Any, rtype: str, where: str) -> str:
    if not isinstance(resource, dict) or resource.get("resourceType") != rtype:
        raise ProfileError(f"{where}: expected a {rtype} resource")
    url = resource.get("url")
    if not isinstance(url, str) or not url:
        raise ProfileError(f"{where}: {rtype} without a url")
    return url


def _contains(items: list[dict[str, Any]]) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for item in items:
        if item.get("code") and item.get("system") and not item.get("abstract"):
            out.add((item["system"], item["code"]))
        out |= _contains(item.get("contains", []))
    return out


def _cs_codes(concepts: list[dict[str, Any]]) -> set[str]:
    out: set[str] = set()
    for c in concepts:
        out.add(c["code"])
        out |= _cs_codes(c.get("concept", []))
    return out
