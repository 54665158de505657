"""SMART on FHIR scopes — https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html (SMART App Launch 2.2).

Grammar of a resource scope: ``(patient|user|system)/(Type|*).(cruds subset in order | read | write | *)``, with
an optional ``?param=value(&param=value)*`` filter (granular v2 scopes, e.g.
``patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory``).
v1 suffixes map to v2 letters: ``read`` = ``rs``, ``write`` = ``cud``, ``*`` = ``cruds``; filters are only allowed on
v2 scopes. Everything here is pure (no database, no Flask).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl

#: scopes that do not name resources: identity, launch context, refresh tokens
CONTEXT_SCOPES = frozenset({"openid", "fhirUser", "profile", "launch", "launch/patient", "launch/encounter",
                            "offline_access", "online_access"})
URI_PREFIX = "http://smarthealthit.org/fhir/scopes/"
LETTERS = "cruds"
V1 = {"read": "rs", "write": "cud", "*": "cruds"}
_RESOURCE = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]{1,63})\.([a-z*]+)(\?.*)?$")


class ScopeError(ValueError):
    """A scope string that is not valid SMART syntax."""


@dataclass(frozen=True)
class ResourceScope:
    """One parsed resource scope."""

    context: str  # patient | user | system
    resource_type: str  # a FHIR type or "*"
    letters: frozenset[str]  # subset of "cruds"
    filters: tuple[tuple[str, str], ...]  # (search parameter, value), AND'ed
    raw: str
    v1: bool

    def covers_type(self, resource_type: str | None) -> bool:
        return self.resource_type == "*" or self.resource_type == resource_type

    def covers(self, other: ResourceScope) -> bool:
        """True when every access ``other`` grants is also granted by this scope."""
        return (self.context == other.context and (self.resource_type == "*"
                or self.resource_type == other.resource_type)
                and other.letters <= self.letters and set(self.filters) <= set(other.filters))


def parse_resource_scope(text: str) -> ResourceScope:
    match = _RESOURCE.match(text)
    if not match:
        raise ScopeError(f"{text!r} is not a SMART resource scope (context/Type.permissions)")
    context, rtype, suffix, query = match.groups()
    v1 = suffix in V1
    if v1:
        letters = V1[suffix]
    else:
        if not suffix or any(c not in LETTERS for c in suffix) or suffix != "".join(c for c in LETTERS if c in suffix):
            raise ScopeError(f"{text!r}: the permissions must be a subset of 'cruds' in that order, "
                             "or one of read, write, *")
        letters = suffix
    filters: tuple[tuple[str, str], ...] = ()
    if query:
        if v1:
            raise ScopeError(f"{text!r}: filters are only allowed on SMART v2 scopes (.cruds letters)")
        pairs = parse_qsl(query[1:], keep_blank_values=True)
        if not pairs or any(not k or not v for k, v in pairs):
            raise ScopeError(f"{text!r}: the filter must be param=value pairs")
        filters = tuple(pairs)
    return ResourceScope(context, rtype, frozenset(letters), filters, text, v1)


def split(scope: str | None) -> list[str]:
    """The scope tokens of a space-separated scope string, URI-form prefixes removed, duplicates dropped."""
    out: list[str] = []
    for token in (scope or "").split():
        if token.startswith(URI_PREFIX):
            token = token[len(URI_PREFIX):]
        if token not in out:
            out.append(token)
    return out


def validate(scope: str | None) -> list[str]:
    """Check every token; raise :class:`ScopeError` naming the first invalid one."""
    tokens = split(scope)
    for token in tokens:
        if token not in CONTEXT_SCOPES:
            parse_resource_scope(token)
    return tokens


def resource_scopes(scope: str | None) -> tuple[ResourceScope, ...]:
    """The resource scopes of a (valid) scope string; context scopes are left out."""
    return tuple(parse_resource_scope(t) for t in split(scope) if t not in CONTEXT_SCOPES)


def token_covered(token: str, allowed: Iterable[str]) -> bool:
    """True when the scope ``token`` is granted by one of ``allowed`` (exact for context scopes)."""
    allowed = list(allowed)
    if token in CONTEXT_SCOPES:
        return token in allowed
    wanted = parse_resource_scope(token)
    for item in allowed:
        if item in CONTEXT_SCOPES:
            continue
        try:
            if parse_resource_scope(item).covers(wanted):
                return True
        except ScopeError:
            continue
    return False


def restrict(requested: str | None, allowed: str | None) -> str:
    """The requested scopes that ``allowed`` covers (space-separated, request order kept)."""
    allowed_tokens = split(allowed)
    return " ".join(t for t in split(requested) if token_covered(t, allowed_tokens))


#: categories the user may pick one by one at consent (ONC HTI-1 granularity; SMART fine-grained scopes)
CATEGORIES: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "Observation": ("http://terminology.hl7.org/CodeSystem/observation-category", (
        ("laboratory", "résultats de laboratoire"), ("vital-signs", "constantes (poids, tension, température…)"),
        ("social-history", "mode de vie et situation sociale"), ("survey", "questionnaires et évaluations"),
        ("exam", "examens cliniques"), ("imaging", "imagerie"), ("procedure", "actes"),
        ("therapy", "thérapies"), ("activity", "activité physique"))),
    "Condition": ("http://terminology.hl7.org/CodeSystem/condition-category", (
        ("problem-list-item", "problèmes de santé suivis"), ("encounter-diagnosis", "diagnostics de séjour"))),
}


def sub_scopes(token: str) -> list[tuple[str, str]]:
    """The per-category filtered scopes (and their French labels) an unfiltered Observation / Condition scope can
    be narrowed to at consent; empty for other scopes."""
    try:
        parsed = parse_resource_scope(token)
    except ScopeError:
        return []
    if parsed.filters or parsed.resource_type not in CATEGORIES:
        return []
    system, codes = CATEGORIES[parsed.resource_type]
    letters = "".join(c for c in LETTERS if c in parsed.letters)
    base = f"{parsed.context}/{parsed.resource_type}.{letters}"
    return [(f"{base}?category={system}|{code}", label) for code, label in codes]


def describe(token: str) -> str:
    """A plain-language French label of one scope for the consent page."""
    labels = {
        "openid": "Vous identifier auprès de l'application",
        "fhirUser": "Communiquer à l'application qui vous êtes (votre fiche)",
        "profile": "Communiquer votre nom à l'application",
        "launch": "Recevoir le contexte d'ouverture (usager, séjour) depuis le dossier",
        "launch/patient": "Connaître l'usager dont le dossier est consulté",
        "launch/encounter": "Connaître le séjour ou la prise en charge en cours",
        "offline_access": "Garder l'accès quand vous n'êtes pas connecté (jusqu'à révocation)",
        "online_access": "Garder l'accès pendant que vous êtes connecté",
    }
    if token in labels:
        return labels[token]
    try:
        parsed = parse_resource_scope(token)
    except ScopeError:
        return token
    verbs = {"c": "créer", "r": "lire", "u": "modifier", "d": "supprimer", "s": "rechercher"}
    actions = ", ".join(verbs[c] for c in LETTERS if c in parsed.letters)
    what = ("toutes les données (y compris les types de données ajoutés plus tard)" if parsed.resource_type == "*"
            else f"les données de type {parsed.resource_type}")
    whose = {"patient": "de l'usager choisi", "user": "auxquelles vous avez accès",
             "system": "du système"}[parsed.context]
    text = f"{actions[:1].upper()}{actions[1:]} {what} {whose}"
    if parsed.filters:
        text += " (seulement : " + ", ".join(f"{k} = {v}" for k, v in parsed.filters) + ")"
    return text
