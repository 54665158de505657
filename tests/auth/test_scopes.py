"""The SMART scope grammar (scopes-and-launch-context.html): v1 and v2 suffixes, filters, coverage."""

from __future__ import annotations

import pytest

from fhirserver.auth import scopes


def test_v1_and_v2_letters() -> None:
    """read = rs, write = cud, * = cruds; v2 letters kept as given."""
    assert scopes.parse_resource_scope("patient/*.read").letters == frozenset("rs")
    assert scopes.parse_resource_scope("user/Observation.write").letters == frozenset("cud")
    assert scopes.parse_resource_scope("system/*.*").letters == frozenset("cruds")
    parsed = scopes.parse_resource_scope("patient/Observation.rs")
    assert (parsed.context, parsed.resource_type, parsed.letters, parsed.v1) == ("patient", "Observation",
                                                                                 frozenset("rs"), False)


def test_filtered_scope() -> None:
    """A v2 scope may carry search filters; a v1 scope may not."""
    parsed = scopes.parse_resource_scope(
        "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory")
    assert parsed.filters == (("category", "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"),)
    with pytest.raises(scopes.ScopeError):
        scopes.parse_resource_scope("patient/Observation.read?category=laboratory")


@pytest.mark.parametrize("bad", ["patient/Observation.dus", "patient/Observation.", "clinic/*.rs",
                                 "patient/observation.rs", "patient/Observation.rs?category", "Observation.rs"])
def test_invalid_scopes(bad: str) -> None:
    """Out-of-order letters, unknown contexts, lower-case types and empty filters are rejected."""
    with pytest.raises(scopes.ScopeError):
        scopes.validate(bad)


def test_coverage() -> None:
    """A wildcard covers a type, more letters cover fewer, an unfiltered scope covers a filtered one — not the
    reverse; contexts never cover each other."""
    allowed = ["patient/*.rs", "openid"]
    assert scopes.token_covered("patient/Observation.r", allowed)
    assert scopes.token_covered("patient/Observation.rs?category=laboratory", allowed)
    assert not scopes.token_covered("patient/Observation.c", allowed)
    assert not scopes.token_covered("user/Observation.r", allowed)
    assert not scopes.token_covered("fhirUser", allowed)
    assert scopes.token_covered("openid", allowed)
    assert not scopes.token_covered("patient/Observation.rs",
                                    ["patient/Observation.rs?category=laboratory"])
    assert scopes.restrict("openid patient/Patient.r system/*.rs", "openid patient/*.rs") == "openid patient/Patient.r"


def test_uri_form_and_duplicates() -> None:
    """The http://smarthealthit.org/fhir/scopes/ prefix is accepted and duplicates collapse."""
    assert scopes.split("http://smarthealthit.org/fhir/scopes/openid openid patient/*.rs") == ["openid",
                                                                                              "patient/*.rs"]


def test_describe_in_french() -> None:
    """Consent labels are plain French and warn about wildcards."""
    assert scopes.describe("patient/Observation.rs") == "Lire, rechercher les données de type Observation de " \
                                                        "l'usager choisi"
    assert "ajoutés plus tard" in scopes.describe("user/*.cruds")
