"""Operation inputs read the same way by every operation: URL parameters and a Parameters body."""

from __future__ import annotations

import pytest

from fhirserver.errors import Invalid
from fhirserver.interactions.context import FhirRequest
from fhirserver.interactions.operations.params import flag, inputs, one


def _req(params: list[tuple[str, str]] | None = None, body: object = None) -> FhirRequest:
    return FhirRequest("POST", "Patient/p1/$op", params=params or [], body=body)


def test_url_then_body_values_and_resources() -> None:
    """URL parameters come first, then value[x] or resource parts of the body, in order."""
    patient = {"resourceType": "Patient", "id": "p2"}
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "store", "valueBoolean": True}, {"name": "patient", "resource": patient},
        {"name": "recipient", "valueString": "a@x.mssante.fr"}, {"valueString": "no name"}]}
    got = inputs(_req([("recipient", "b@x.mssante.fr")], body))
    assert got == [("recipient", "b@x.mssante.fr"), ("store", True), ("patient", patient),
                   ("recipient", "a@x.mssante.fr")]
    assert one(got, "patient") == patient
    assert one(got, "absent") is None


def test_a_body_that_is_not_parameters_is_refused() -> None:
    """Any other resource in the body is a 400, not silently ignored."""
    with pytest.raises(Invalid, match="must be a Parameters resource"):
        inputs(_req(body={"resourceType": "Patient"}))


def test_single_valued_input_given_twice_is_refused() -> None:
    """A parameter given twice is ambiguous: the error names it."""
    with pytest.raises(Invalid, match="'type' is given more than once"):
        one([("type", "dlu"), ("type", "fludt")], "type")


@pytest.mark.parametrize(("given", "expected"), [
    ([("report", "true")], True), ([("report", "FALSE")], False), ([("report", True)], True), ([], None)])
def test_flags(given: list[tuple[str, object]], expected: bool | None) -> None:
    """Booleans from valueBoolean or text; None when absent (callers choose the default)."""
    assert flag(given, "report") is expected


def test_a_flag_that_is_not_a_boolean_names_the_parameter() -> None:
    """"yes" is not a FHIR boolean."""
    with pytest.raises(Invalid, match="'report' must be true or false") as err:
        flag([("report", "yes")], "report")
    assert err.value.issues[0].expression == ("report",)
