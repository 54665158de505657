"""Tests for fhirserver.fhir.xml: FHIR R4 JSON <-> XML conversion.

Spec: https://hl7.org/fhir/R4/xml.html and https://hl7.org/fhir/R4/json.html. The last test round-trips
every JSON example of the official R4 examples package (hl7.fhir.r4.examples 4.0.1) through XML.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from fhirserver.fhir.xml import FhirXmlError, resource_to_xml, xml_to_resource

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
EXAMPLES_TGZ = SHARED / "fhir" / "hl7.fhir.r4.examples-4.0.1.tgz"

F = "{http://hl7.org/fhir}"
H = "{http://www.w3.org/1999/xhtml}"
DIV = '<div xmlns="http://www.w3.org/1999/xhtml"><p>Hello <b>world</b></p></div>'


def roundtrip(resource: dict[str, Any], *, pretty: bool = False) -> dict[str, Any]:
    return xml_to_resource(resource_to_xml(resource, pretty=pretty))


def tree(resource: dict[str, Any]) -> etree._Element:
    return etree.fromstring(resource_to_xml(resource))


def child_names(node: etree._Element) -> list[str]:
    return [etree.QName(child).localname for child in node if isinstance(child.tag, str)]


def fhir(body: str, root: str = "Patient") -> bytes:
    return f'<{root} xmlns="http://hl7.org/fhir">{body}</{root}>'.encode()


# --------------------------------------------------------------------------------------------------
# structure and primitives
# --------------------------------------------------------------------------------------------------


def test_xml_declaration_root_namespace_and_definition_order() -> None:
    patient = {
        "birthDate": "1970-03-30",
        "gender": "male",
        "name": [{"given": ["Peter"], "family": "Chalmers"}],
        "active": True,
        "id": "p1",
        "resourceType": "Patient",
    }
    data = resource_to_xml(patient)
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Patient xmlns="http://hl7.org/fhir">')
    root = etree.fromstring(data)
    assert root.tag == F + "Patient"
    # XML order is the definition order, whatever the JSON order
    assert child_names(root) == ["id", "active", "name", "gender", "birthDate"]
    assert child_names(root.find(F + "name")) == ["family", "given"]
    assert root.find(F + "id").get("value") == "p1"
    assert root.find(F + "active").get("value") == "true"
    assert roundtrip(patient) == patient
    assert list(roundtrip(patient)) == ["resourceType", "id", "active", "name", "gender", "birthDate"]


def test_primitive_with_id_and_extensions() -> None:
    patient = {
        "resourceType": "Patient",
        "birthDate": "1970-03-30",
        "_birthDate": {
            "id": "bd",
            "extension": [
                {
                    "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                    "valueDateTime": "1970-03-30T14:35:45-05:00",
                }
            ],
        },
    }
    root = tree(patient)
    birth = root.find(F + "birthDate")
    assert birth.get("id") == "bd"
    assert birth.get("value") == "1970-03-30"
    ext = birth.find(F + "extension")
    assert ext.get("url") == "http://hl7.org/fhir/StructureDefinition/patient-birthTime"
    assert ext.find(F + "valueDateTime").get("value") == "1970-03-30T14:35:45-05:00"
    assert roundtrip(patient) == patient


def test_primitive_with_extension_but_no_value() -> None:
    patient = {
        "resourceType": "Patient",
        "_gender": {
            "extension": [
                {"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}
            ]
        },
    }
    gender = tree(patient).find(F + "gender")
    assert gender.get("value") is None
    assert len(gender) == 1
    assert roundtrip(patient) == patient


def test_primitive_arrays_with_null_placeholders() -> None:
    ext = {"url": "http://example.org/ext", "valueString": "x"}
    patient = {
        "resourceType": "Patient",
        "name": [
            {
                "given": ["Jim", None, "Tom"],
                "_given": [None, {"id": "g2", "extension": [ext]}, None],
            },
            {"_given": [{"extension": [ext]}]},
        ],
    }
    root = tree(patient)
    first, second = root.findall(F + "name")
    given = first.findall(F + "given")
    assert [g.get("value") for g in given] == ["Jim", None, "Tom"]
    assert given[1].get("id") == "g2"
    assert [len(g) for g in given] == [0, 1, 0]
    assert second.find(F + "given").get("value") is None
    assert roundtrip(patient) == patient


def test_primitive_array_errors() -> None:
    with pytest.raises(FhirXmlError, match=r"Patient\.name\[0\]\.given: .*differ in length"):
        resource_to_xml({"resourceType": "Patient", "name": [{"given": ["a", "b"], "_given": [None]}]})
    with pytest.raises(FhirXmlError, match=r"Patient\.name\[0\]\.given\[1\]: null"):
        resource_to_xml({"resourceType": "Patient", "name": [{"given": ["a", None]}]})
    with pytest.raises(FhirXmlError, match=r"Patient\.name\[0\]\.given: expected an array"):
        resource_to_xml({"resourceType": "Patient", "name": [{"given": "a"}]})
    with pytest.raises(FhirXmlError, match=r"Patient\.gender: expected a single value"):
        resource_to_xml({"resourceType": "Patient", "gender": ["male"]})
    with pytest.raises(FhirXmlError, match=r"Patient\.name: arrays must not be empty"):
        resource_to_xml({"resourceType": "Patient", "name": []})


def test_choice_types() -> None:
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "weight"},
        "effectiveDateTime": "2016-03-28",
        "valueQuantity": {"value": 67.5, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"},
        "component": [
            {"code": {"text": "a"}, "valueBoolean": False},
            {"code": {"text": "b"}, "valueInteger": 3},
        ],
    }
    root = tree(observation)
    assert child_names(root) == [
        "status",
        "code",
        "effectiveDateTime",
        "valueQuantity",
        "component",
        "component",
    ]
    assert root.find(F + "valueQuantity").find(F + "value").get("value") == "67.5"
    assert root.find(F + "component").find(F + "valueBoolean").get("value") == "false"
    assert roundtrip(observation) == observation

    patient = {"resourceType": "Patient", "deceasedBoolean": True, "multipleBirthInteger": 2}
    back = roundtrip(patient)
    assert back == patient
    assert back["deceasedBoolean"] is True
    assert type(back["multipleBirthInteger"]) is int


def test_element_id_and_extension_url_are_attributes() -> None:
    patient = {
        "resourceType": "Patient",
        "id": "p1",
        "extension": [{"id": "e1", "url": "http://example.org/a", "valueCode": "x"}],
        "name": [{"id": "n1", "family": "Doe"}],
    }
    root = tree(patient)
    assert root.find(F + "id").get("value") == "p1"  # resource id is an element
    ext = root.find(F + "extension")
    assert dict(ext.attrib) == {"id": "e1", "url": "http://example.org/a"}
    assert child_names(ext) == ["valueCode"]
    assert dict(root.find(F + "name").attrib) == {"id": "n1"}
    assert roundtrip(patient) == patient
    # and XML attributes where an element is expected are refused
    with pytest.raises(FhirXmlError, match=r"^Patient: unexpected attribute 'id'"):
        xml_to_resource(b'<Patient xmlns="http://hl7.org/fhir" id="p1"/>')
    with pytest.raises(FhirXmlError, match=r"Patient\.name\[0\]\.id: unknown element"):
        xml_to_resource(fhir('<name><id value="x"/></name>'))


def test_contained_resources() -> None:
    observation = {
        "resourceType": "Observation",
        "id": "o1",
        "contained": [
            {"resourceType": "Practitioner", "id": "pr1", "name": [{"family": "House"}]},
            {"resourceType": "Patient", "id": "pa1", "active": False},
        ],
        "status": "final",
        "code": {"text": "x"},
        "performer": [{"reference": "#pr1"}],
        "subject": {"reference": "#pa1"},
    }
    root = tree(observation)
    contained = root.findall(F + "contained")
    assert [child_names(c) for c in contained] == [["Practitioner"], ["Patient"]]
    assert contained[0].find(F + "Practitioner").find(F + "id").get("value") == "pr1"
    assert roundtrip(observation) == observation


def test_bundle_and_parameters_with_nested_resources() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "batch-response",
        "entry": [
            {
                "fullUrl": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a",
                "resource": {
                    "resourceType": "Patient",
                    "id": "a",
                    "text": {"status": "generated", "div": DIV},
                    "contained": [{"resourceType": "Organization", "id": "o", "name": "Acme"}],
                },
                "response": {
                    "status": "201 Created",
                    "outcome": {
                        "resourceType": "OperationOutcome",
                        "issue": [{"severity": "information", "code": "informational"}],
                    },
                },
            }
        ],
    }
    root = tree(bundle)
    entry = root.find(F + "entry")
    assert child_names(entry) == ["fullUrl", "resource", "response"]
    assert child_names(entry.find(F + "resource")) == ["Patient"]
    assert child_names(entry.find(F + "response").find(F + "outcome")) == ["OperationOutcome"]
    assert roundtrip(bundle) == bundle

    parameters = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "count", "valueInteger": 2},
            {"name": "patient", "resource": {"resourceType": "Patient", "active": True}},
            {"name": "nested", "part": [{"name": "x", "valueDecimal": 1.25}]},
        ],
    }
    assert roundtrip(parameters) == parameters


def test_nested_resource_container_must_hold_exactly_one_resource() -> None:
    with pytest.raises(
        FhirXmlError, match=r"Bundle\.entry\[0\]\.resource: must contain exactly one resource"
    ):
        xml_to_resource(fhir("<entry><resource><Patient/><Patient/></resource></entry>", "Bundle"))
    with pytest.raises(FhirXmlError, match=r"Bundle\.entry\[0\]\.resource: unknown resource type 'Foo'"):
        xml_to_resource(fhir("<entry><resource><Foo/></resource></entry>", "Bundle"))
    with pytest.raises(FhirXmlError, match=r"Bundle\.entry\[0\]\.resource: unknown resource type 'Foo'"):
        resource_to_xml({"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Foo"}}]})


def test_property_named_resource_type_inside_a_backbone_element() -> None:
    # ExampleScenario.instance.resourceType is an ordinary code element, not the resource discriminator
    scenario = {
        "resourceType": "ExampleScenario",
        "status": "draft",
        "instance": [{"resourceId": "a", "resourceType": "Patient"}],
    }
    instance = tree(scenario).find(F + "instance")
    assert instance.find(F + "resourceType").get("value") == "Patient"
    assert roundtrip(scenario) == scenario


# --------------------------------------------------------------------------------------------------
# narrative XHTML
# --------------------------------------------------------------------------------------------------


def test_narrative_is_embedded_as_xhtml() -> None:
    patient = {"resourceType": "Patient", "text": {"status": "generated", "div": DIV}}
    data = resource_to_xml(patient)
    assert DIV.encode() in data  # embedded as-is
    div = etree.fromstring(data).find(F + "text").find(H + "div")
    assert div is not None
    assert div.find(H + "p").find(H + "b").text == "world"
    assert roundtrip(patient) == patient


def test_narrative_from_xml_gets_the_json_form() -> None:
    data = fhir(
        '<text><status value="generated"/>'
        '<x:div xmlns:x="http://www.w3.org/1999/xhtml" xml:lang="en"><x:p class="a">1 &lt; 2 &amp; "q"</x:p>'
        "<x:br/><!-- note --></x:div></text>"
    )
    div = xml_to_resource(data)["text"]["div"]
    assert div == (
        '<div xmlns="http://www.w3.org/1999/xhtml" xml:lang="en"><p class="a">1 &lt; 2 &amp; &quot;q&quot;</p>'
        "<br/><!-- note --></div>"
    )


def test_narrative_exactness_and_normalisation() -> None:
    # carriage returns in text and line feeds in attribute values survive the XML round trip
    exact = '<div xmlns="http://www.w3.org/1999/xhtml"><p title="a\nb">x\r\ny &gt; z</p>\r\n<br/></div>'
    patient = {"resourceType": "Patient", "text": {"status": "generated", "div": exact}}
    assert roundtrip(patient) == patient
    # the XML infoset does not distinguish <td></td> from <td/>: empty elements come back self-closed
    table = '<div xmlns="http://www.w3.org/1999/xhtml"><table><tr><td></td></tr></table></div>'
    back = roundtrip({"resourceType": "Patient", "text": {"status": "generated", "div": table}})
    assert back["text"]["div"] == table.replace("<td></td>", "<td/>")
    # a div without the XHTML namespace gets it
    bare = {"resourceType": "Patient", "text": {"status": "generated", "div": "<div><p>x</p></div>"}}
    assert roundtrip(bare)["text"]["div"] == '<div xmlns="http://www.w3.org/1999/xhtml"><p>x</p></div>'


@pytest.mark.parametrize(
    ("div", "message"),
    [
        ("<div xmlns='http://www.w3.org/1999/xhtml'><p>unclosed</div>", "not well-formed"),
        ("plain text", "single XHTML <div>"),
        ('<p xmlns="http://www.w3.org/1999/xhtml">x</p>', "must be an XHTML <div>"),
        (
            '<div xmlns="http://www.w3.org/1999/xhtml"><svg xmlns="http://www.w3.org/2000/svg"/></div>',
            "XHTML only",
        ),
        ('<div xmlns="http://www.w3.org/1999/xhtml">&nbsp;</div>', "not well-formed"),
        (
            '<!DOCTYPE div [<!ENTITY e "x">]><div xmlns="http://www.w3.org/1999/xhtml">&e;</div>',
            "single XHTML",
        ),
        ('<div xmlns="http://www.w3.org/1999/xhtml"/><!-- trailing -->', "single XHTML <div>"),
        (42, "must be a string"),
    ],
)
def test_invalid_narratives_are_refused(div: Any, message: str) -> None:
    with pytest.raises(FhirXmlError, match=r"^Patient\.text\.div: .*" + message):
        resource_to_xml({"resourceType": "Patient", "text": {"status": "generated", "div": div}})


def test_narrative_div_must_be_in_xhtml_namespace_in_xml() -> None:
    with pytest.raises(FhirXmlError, match=r"Patient\.text\.div: must be in the XHTML namespace"):
        xml_to_resource(fhir('<text><status value="generated"/><div>x</div></text>'))


def test_pretty_output_does_not_touch_the_narrative() -> None:
    div = '<div xmlns="http://www.w3.org/1999/xhtml"><p>a</p><p>b</p></div>'
    patient = {
        "resourceType": "Patient",
        "text": {"status": "generated", "div": div},
        "name": [{"family": "Doe", "given": ["J"]}],
    }
    data = resource_to_xml(patient, pretty=True)
    assert (
        b'<Patient xmlns="http://hl7.org/fhir">\n  <text>\n    <status value="generated"/>\n    '
        + div.encode()
        + b'\n  </text>\n  <name>\n    <family value="Doe"/>\n    <given value="J"/>\n  </name>\n</Patient>\n'
    ) in data
    assert xml_to_resource(data) == patient
    assert b"\n" not in resource_to_xml(patient).split(b"\n", 1)[1]


# --------------------------------------------------------------------------------------------------
# values
# --------------------------------------------------------------------------------------------------


def _quantity_xml(value: str) -> bytes:
    return fhir(
        f'<status value="final"/><code/><valueQuantity><value value="{value}"/></valueQuantity>',
        "Observation",
    )


@pytest.mark.parametrize(
    ("literal", "expected"),
    [("1.50", 1.5), ("3", 3), ("-0.001", -0.001), ("1e3", 1000.0), ("6.02E23", 6.02e23), ("0", 0)],
)
def test_xml_decimals_become_int_or_float(literal: str, expected: float) -> None:
    value = xml_to_resource(_quantity_xml(literal))["valueQuantity"]["value"]
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize("literal", ["1,5", "01.5", ".5", "NaN", "Infinity", "1e999", " 1.0", "1.", "true"])
def test_invalid_xml_decimals_are_refused(literal: str) -> None:
    with pytest.raises(FhirXmlError, match=r"^Observation\.valueQuantity\.value: "):
        xml_to_resource(_quantity_xml(literal))


def test_json_decimals_keep_their_exact_value() -> None:
    values = [0.1 + 0.2, 1.0, 100, 1e-7, 123456789.123456789, -0.0, 1e22]
    for value in values:
        observation = {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "x"},
            "valueQuantity": {"value": value},
        }
        literal = tree(observation).find(F + "valueQuantity").find(F + "value").get("value")
        assert literal == (repr(value) if isinstance(value, float) else str(value))
        back = roundtrip(observation)["valueQuantity"]["value"]
        assert back == value and type(back) is type(value)
        assert json.dumps(back) == json.dumps(value)
    # decimal.Decimal input keeps its digits in XML
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {},
        "valueQuantity": {"value": Decimal("1.50")},
    }
    assert tree(observation).find(F + "valueQuantity").find(F + "value").get("value") == "1.50"


def test_integers_and_booleans() -> None:
    assert xml_to_resource(fhir('<multipleBirthInteger value="-2"/>'))["multipleBirthInteger"] == -2
    for literal in ("1.0", "+1", "007", "two", ""):
        with pytest.raises(FhirXmlError, match=r"^Patient\.multipleBirthInteger: invalid integer"):
            xml_to_resource(fhir(f'<multipleBirthInteger value="{literal}"/>'))
    for literal in ("True", "1", "yes"):
        with pytest.raises(FhirXmlError, match=r"^Patient\.active: invalid boolean"):
            xml_to_resource(fhir(f'<active value="{literal}"/>'))


@pytest.mark.parametrize(
    ("resource", "path", "message"),
    [
        ({"resourceType": "Patient", "active": "true"}, "Patient.active", "expected a boolean"),
        (
            {"resourceType": "Patient", "multipleBirthInteger": 1.5},
            "Patient.multipleBirthInteger",
            "expected an integer",
        ),
        (
            {"resourceType": "Patient", "multipleBirthInteger": True},
            "Patient.multipleBirthInteger",
            "boolean",
        ),
        ({"resourceType": "Patient", "birthDate": 1970}, "Patient.birthDate", "expected a string"),
        (
            {"resourceType": "Observation", "valueQuantity": {"value": float("nan")}},
            "Observation.valueQuantity.value",
            "finite",
        ),
        (
            {"resourceType": "Observation", "valueQuantity": {"value": "1.5"}},
            "Observation.valueQuantity.value",
            "decimal",
        ),
        ({"resourceType": "Patient", "name": [{"id": 3}]}, "Patient.name[0].id", "expected a string"),
        ({"resourceType": "Patient", "name": "Doe"}, "Patient.name", "expected an array"),
        ({"resourceType": "Patient", "name": ["Doe"]}, "Patient.name[0]", "expected a JSON object"),
        ({"resourceType": "Patient", "_gender": {"value": "x"}}, "Patient.gender.value", "unknown element"),
        ({"resourceType": "Patient", "name": [{"family": "a\x01b"}]}, "Patient.name[0].family", r"U\+0001"),
    ],
)
def test_json_value_errors_name_the_path(resource: dict[str, Any], path: str, message: str) -> None:
    with pytest.raises(FhirXmlError, match=message) as info:
        resource_to_xml(resource)
    assert info.value.path == path
    assert str(info.value).startswith(path + ": ")


def test_special_characters_in_values_round_trip() -> None:
    text = "a & b < c > d \"e\" 'f'\n\tg\r\nh é 中 😀"
    patient = {"resourceType": "Patient", "name": [{"text": text}]}
    data = resource_to_xml(patient)
    assert etree.fromstring(data).find(F + "name").find(F + "text").get("value") == text
    assert roundtrip(patient) == patient


# --------------------------------------------------------------------------------------------------
# malformed or hostile input
# --------------------------------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Patient xmlns="http://hl7.org/fhir"><name><text value="&lol9;"/></name></Patient>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE Patient [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Patient xmlns="http://hl7.org/fhir"><name><text value="&xxe;"/></name></Patient>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE Patient SYSTEM "http://example.invalid/evil.dtd">
<Patient xmlns="http://hl7.org/fhir"/>"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE Patient [<!ENTITY % remote SYSTEM "http://example.invalid/x.dtd"> %remote;]>
<Patient xmlns="http://hl7.org/fhir"/>"""

HARMLESS_DOCTYPE = b'<!DOCTYPE Patient><Patient xmlns="http://hl7.org/fhir"/>'


@pytest.mark.parametrize(
    "payload",
    [
        BILLION_LAUGHS,
        XXE,
        EXTERNAL_DTD,
        PARAMETER_ENTITY,
        HARMLESS_DOCTYPE,
        BILLION_LAUGHS.decode(),
        XXE.decode()
        .replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>')
        .encode("utf-16"),
        XXE.decode()
        .replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-32"?>')
        .encode("utf-32"),
    ],
    ids=["billion-laughs", "xxe", "external-dtd", "parameter-entity", "doctype", "str", "utf-16", "utf-32"],
)
def test_any_dtd_is_refused(payload: bytes | str) -> None:
    with pytest.raises(FhirXmlError, match="DOCTYPE") as info:
        xml_to_resource(payload)
    assert "root:" not in str(info.value)  # nothing of /etc/passwd leaks into the message


def test_undeclared_entities_are_refused() -> None:
    with pytest.raises(FhirXmlError, match="malformed XML"):
        xml_to_resource(fhir('<name><text value="&xxe;"/></name>'))


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        (fhir('<name><given value="x"/><foo value="y"/></name>'), "Patient.name[0].foo", "unknown element"),
        (
            fhir('<name/><name><given value="a"/><given><bar/></given></name>'),
            "Patient.name[1].given[1].bar",
            "unknown element",
        ),
        (fhir('<fooBar value="x"/>'), "Patient.fooBar", "unknown element"),
        (fhir('<gender value="male"/><gender value="female"/>'), "Patient.gender", "repeated"),
        (fhir('<gender value="male" extra="1"/>'), "Patient.gender", "unexpected attribute 'extra'"),
        (fhir("<gender/>"), "Patient.gender", "neither a value nor extensions"),
        (fhir("<name>text</name>"), "Patient.name[0]", "unexpected text"),
        (fhir('<name xmlns="urn:other"/>'), "Patient", "not in the FHIR namespace"),
        (
            fhir("<contained><Basic><code/></Basic></contained><contained/>"),
            "Patient.contained[1]",
            "exactly one",
        ),
        (
            fhir('<birthDate value="1970"><extension url="u"><valueFoo value="1"/></extension></birthDate>'),
            "Patient.birthDate.extension[0].valueFoo",
            "unknown element",
        ),
        (b'<Foo xmlns="http://hl7.org/fhir"/>', "Foo", "unknown resource type 'Foo'"),
        (b"<Patient/>", "Patient", "not a FHIR resource"),
    ],
)
def test_xml_errors_name_the_path(data: bytes, path: str, message: str) -> None:
    with pytest.raises(FhirXmlError, match=message) as info:
        xml_to_resource(data)
    assert info.value.path == path
    assert str(info.value).startswith(path + ": ")


@pytest.mark.parametrize(
    ("resource", "path"),
    [
        ({"resourceType": "Patient", "name": [{"given": ["x"], "foo": 1}]}, "Patient.name[0].foo"),
        (
            {"resourceType": "Patient", "name": [{"given": ["x"], "_given": [{"foo": 1}]}]},
            "Patient.name[0].given[0].foo",
        ),
        ({"resourceType": "Patient", "_name": [{}]}, "Patient._name"),
        ({"resourceType": "Patient", "valueString": "x"}, "Patient.valueString"),
        (
            {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Patient", "foo": 1}}]},
            "Bundle.entry[0].resource.foo",
        ),
        (
            {"resourceType": "Patient", "extension": [{"url": "u", "valueFoo": 1}]},
            "Patient.extension[0].valueFoo",
        ),
    ],
)
def test_unknown_json_properties_are_refused_with_their_path(resource: dict[str, Any], path: str) -> None:
    with pytest.raises(FhirXmlError, match="unknown element") as info:
        resource_to_xml(resource)
    assert info.value.path == path


def test_unknown_or_missing_resource_type_in_json() -> None:
    with pytest.raises(FhirXmlError, match="unknown resource type 'Foo'"):
        resource_to_xml({"resourceType": "Foo"})
    with pytest.raises(FhirXmlError, match="resourceType"):
        resource_to_xml({"id": "x"})


@pytest.mark.parametrize(
    "data", [b"", b"<Patient", b"not xml", b'<Patient xmlns="http://hl7.org/fhir"></Patent>']
)
def test_malformed_xml_is_refused(data: bytes) -> None:
    with pytest.raises(FhirXmlError, match="malformed XML"):
        xml_to_resource(data)


def test_lenient_on_comments_order_xsi_and_str_input() -> None:
    data = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<!-- a comment -->\n'
        '<Patient xmlns="http://hl7.org/fhir" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        ' xsi:schemaLocation="http://hl7.org/fhir ../../schema/patient.xsd">'
        '<?pi ignored?><gender value="male"/><!-- c --><active value="true"/>'
        '<name><given value="b"/><family value="a"/><given value="c"/></name></Patient>'
    )
    resource = xml_to_resource(data)
    assert resource == {
        "resourceType": "Patient",
        "active": True,
        "name": [{"family": "a", "given": ["b", "c"]}],
        "gender": "male",
    }
    assert list(resource) == ["resourceType", "active", "name", "gender"]  # definition order
    assert xml_to_resource(data.encode("utf-8")) == resource


def test_schema_is_loaded_lazily() -> None:
    code = (
        "import fhirserver.fhir.xml as x\n"
        "assert x._model.cache_info().currsize == 0\n"
        "x.resource_to_xml({'resourceType': 'Patient'})\n"
        "assert x._model.cache_info().currsize == 1\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])


# --------------------------------------------------------------------------------------------------
# official examples: JSON -> XML -> JSON
# --------------------------------------------------------------------------------------------------


def _example_names() -> list[Any]:
    if not EXAMPLES_TGZ.exists():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{EXAMPLES_TGZ} not found"))]
    with tarfile.open(EXAMPLES_TGZ, "r:gz") as archive:
        names = [m.name for m in archive.getmembers() if m.isfile() and m.name.endswith(".json")]
    skip = {"package/package.json", "package/.index.json"}
    return [pytest.param(name, id=name.removeprefix("package/")) for name in names if name not in skip]


class _ExampleStream:
    """Reads the tarball members in order (random access in a .tgz decompresses from the start)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.archive: tarfile.TarFile | None = None
        self.members: Iterator[tarfile.TarInfo] = iter(())

    def read(self, name: str) -> bytes:
        for _ in range(2):
            if self.archive is None:
                self.archive = tarfile.open(self.path, "r|gz")  # noqa: SIM115 - closed by close()
                self.members = iter(self.archive)
            for member in self.members:
                if member.name == name:
                    handle = self.archive.extractfile(member)
                    assert handle is not None
                    return handle.read()
            self.close()  # already passed: start again
        raise KeyError(name)

    def close(self) -> None:
        if self.archive is not None:
            self.archive.close()
            self.archive = None


@pytest.fixture(scope="module")
def examples() -> Iterator[_ExampleStream]:
    stream = _ExampleStream(EXAMPLES_TGZ)
    yield stream
    stream.close()


def _canonical_xhtml(div: str) -> bytes:
    return etree.tostring(etree.fromstring(div.replace("\r", "")), method="c14n")


def assert_same(expected: Any, actual: Any, path: str) -> None:
    """Strict JSON equality (int / float / bool are distinguished); narratives that are not
    byte-identical must denote the same XHTML (only ``<x></x>`` vs ``<x/>`` may differ)."""
    assert type(actual) is type(expected), f"{path}: {type(expected).__name__} became {type(actual).__name__}"
    if isinstance(expected, dict):
        assert set(actual) == set(expected), f"{path}: keys {sorted(set(expected) ^ set(actual))} differ"
        for key, value in expected.items():
            if key == "div" and isinstance(value, str) and value != actual[key]:
                assert _canonical_xhtml(value) == _canonical_xhtml(actual[key]), f"{path}.div differs"
                continue
            assert_same(value, actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert len(actual) == len(expected), f"{path}: length {len(expected)} became {len(actual)}"
        for i, (a, b) in enumerate(zip(expected, actual, strict=True)):
            assert_same(a, b, f"{path}[{i}]")
    else:
        assert actual == expected, f"{path}: {expected!r} became {actual!r}"


@pytest.mark.slow
@pytest.mark.parametrize("name", _example_names())
def test_official_example_round_trip(name: str, examples: _ExampleStream) -> None:
    resource = json.loads(examples.read(name))
    data = resource_to_xml(resource)
    assert_same(resource, xml_to_resource(data), resource["resourceType"])
