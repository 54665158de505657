"""HTTP-level tests of content negotiation: JSON and XML both ways, unsafe XML, 406 and 415.

Spec: https://hl7.org/fhir/R4/http.html#mime-type, https://hl7.org/fhir/R4/xml.html,
https://hl7.org/fhir/R4/security.html#xml (no DTD, no external entities).
"""

from __future__ import annotations

import json
from typing import Any

from lxml import etree

FHIR_NS = "{http://hl7.org/fhir}"
XML = "application/fhir+xml"

RESIDENT_XML = """<?xml version="1.0" encoding="UTF-8"?>
<Patient xmlns="http://hl7.org/fhir">
  <text>
    <status value="generated"/>
    <div xmlns="http://www.w3.org/1999/xhtml"><p>Résidente de l'unité Alzheimer, chambre 12</p></div>
  </text>
  <identifier>
    <system value="urn:oid:1.2.250.1.213.1.4.8"/>
    <value value="245077512342212"/>
  </identifier>
  <active value="true"/>
  <name>
    <use value="official"/>
    <family value="Bézier"/>
    <given value="Geneviève"/>
    <given value="Marie"/>
  </name>
  <gender value="female"/>
  <birthDate value="1945-07-21">
    <extension url="http://hl7.org/fhir/StructureDefinition/patient-birthTime">
      <valueDateTime value="1945-07-21T06:30:00+02:00"/>
    </extension>
  </birthDate>
  <address>
    <line value="3 allée des Glycines"/>
    <city value="Tours"/>
    <postalCode value="37000"/>
    <country value="FR"/>
  </address>
</Patient>
"""


def resident() -> dict[str, Any]:
    return {"resourceType": "Patient",
            "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "245077512342212"}],
            "name": [{"family": "Bézier", "given": ["Geneviève"]}], "gender": "female",
            "birthDate": "1945-07-21"}


def post_xml(client: Any, path: str, body: str | bytes, **headers: str) -> Any:
    data = body.encode("utf-8") if isinstance(body, str) else body
    return client.post("/fhir/" + path, data=data,
                       headers={"Content-Type": XML, "Accept": "application/fhir+json", **headers})


def outcome_issues(resp: Any) -> list[dict[str, Any]]:
    body = resp.get_json()
    assert body["resourceType"] == "OperationOutcome", body
    return body["issue"]


# --- XML out ---------------------------------------------------------------------------------------

def test_format_xml_parameter_returns_xml(fhir, client):
    """``_format=xml`` answers application/fhir+xml whose root is the Patient element."""
    created = fhir.create(resident())
    resp = client.get(f"/fhir/Patient/{created['id']}?_format=xml")
    assert resp.status_code == 200
    assert resp.content_type.startswith(XML)
    root = etree.fromstring(resp.get_data())
    assert root.tag == FHIR_NS + "Patient"
    assert root.find(FHIR_NS + "id").get("value") == created["id"]


def test_accept_fhir_xml_returns_xml(fhir, client):
    """``Accept: application/fhir+xml`` answers XML."""
    created = fhir.create(resident())
    resp = client.get(f"/fhir/Patient/{created['id']}", headers={"Accept": XML})
    assert resp.content_type.startswith(XML)
    family = etree.fromstring(resp.get_data()).find(f"{FHIR_NS}name/{FHIR_NS}family")
    assert family.get("value") == "Bézier"


def test_format_parameter_wins_over_accept(fhir, client):
    """``_format=json`` answers JSON even when Accept asks for XML."""
    created = fhir.create(resident())
    resp = client.get(f"/fhir/Patient/{created['id']}?_format=json", headers={"Accept": XML})
    assert resp.content_type.startswith("application/fhir+json")
    assert resp.get_json()["id"] == created["id"]


def test_format_mime_type_value_is_honoured(fhir, client):
    """``_format=application/fhir+xml`` (full MIME type) answers XML."""
    created = fhir.create(resident())
    resp = client.get(f"/fhir/Patient/{created['id']}", query_string={"_format": XML})
    assert resp.content_type.startswith(XML)


def test_errors_are_rendered_in_xml_when_xml_is_asked(client):
    """A 404 asked for in XML is an XML OperationOutcome."""
    resp = client.get("/fhir/Patient/inconnu?_format=xml")
    assert resp.status_code == 404
    assert etree.fromstring(resp.get_data()).tag == FHIR_NS + "OperationOutcome"


def test_search_bundle_in_xml(fhir, client):
    """A search answered in XML is a Bundle whose entries hold the resources."""
    fhir.create(resident())
    resp = client.get("/fhir/Patient?_format=xml")
    root = etree.fromstring(resp.get_data())
    assert root.tag == FHIR_NS + "Bundle"
    assert root.find(f"{FHIR_NS}entry/{FHIR_NS}resource/{FHIR_NS}Patient") is not None


# --- XML in ----------------------------------------------------------------------------------------

def test_xml_body_creates_the_resource(fhir, client):
    """POST with an XML body (application/fhir+xml) creates the resident, read back in JSON."""
    resp = post_xml(client, "Patient", RESIDENT_XML)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    stored = fhir.get(f"Patient/{resp.get_json()['id']}").get_json()
    assert stored["name"][0] == {"use": "official", "family": "Bézier", "given": ["Geneviève", "Marie"]}
    assert stored["_birthDate"]["extension"][0]["valueDateTime"] == "1945-07-21T06:30:00+02:00"
    assert stored["active"] is True
    assert "Alzheimer" in stored["text"]["div"]


def test_xml_round_trip_is_faithful(fhir, client):
    """XML posted then read back as XML gives the same elements (apart from id and meta)."""
    created = post_xml(client, "Patient", RESIDENT_XML).get_json()
    back = client.get(f"/fhir/Patient/{created['id']}", headers={"Accept": XML}).get_data()
    root = etree.fromstring(back)
    for child in list(root):
        if child.tag in (FHIR_NS + "id", FHIR_NS + "meta"):
            root.remove(child)
    original = etree.fromstring(RESIDENT_XML.encode())
    assert etree.tostring(root, method="c14n2", strip_text=True) == \
        etree.tostring(original, method="c14n2", strip_text=True)


def test_json_xml_json_round_trip_is_faithful(fhir, client):
    """A JSON resource read as XML and posted back as XML is stored with identical content."""
    source = {**resident(), "telecom": [{"system": "phone", "value": "02 47 00 00 00", "rank": 1}],
              "multipleBirthBoolean": False,
              "contact": [{"relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0131",
                                                         "code": "N"}]}],
                           "name": {"family": "Bézier", "given": ["Luc"]}}]}
    created = fhir.create(source)
    xml = client.get(f"/fhir/Patient/{created['id']}?_format=xml").get_data()
    again = post_xml(client, "Patient", xml).get_json()
    strip = {"id", "meta"}
    assert {k: v for k, v in again.items() if k not in strip} == {k: v for k, v in created.items() if k not in strip}


def test_xml_update_with_put(fhir, client):
    """PUT with an XML body updates the resource to version 2."""
    created = fhir.create(resident())
    xml = client.get(f"/fhir/Patient/{created['id']}?_format=xml").get_data()
    xml = xml.replace(b'<gender value="female"/>', b'<gender value="other"/>')
    resp = client.put(f"/fhir/Patient/{created['id']}", data=xml,
                      headers={"Content-Type": XML, "Accept": "application/fhir+json"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["gender"] == "other"
    assert resp.get_json()["meta"]["versionId"] == "2"


def test_xml_with_unknown_element_is_refused(fhir, client):
    """An XML body with an element FHIR does not define is refused with an OperationOutcome."""
    body = RESIDENT_XML.replace("<active value=\"true\"/>", "<chambre value=\"12\"/>")
    resp = post_xml(client, "Patient", body)
    assert resp.status_code in (400, 422)
    assert "chambre" in json.dumps(outcome_issues(resp))
    assert fhir.search("Patient") == []


def test_malformed_xml_is_400(fhir, client):
    """A truncated XML document answers 400 with an OperationOutcome."""
    resp = post_xml(client, "Patient", RESIDENT_XML[:200])
    assert resp.status_code == 400
    assert outcome_issues(resp)
    assert fhir.search("Patient") == []


def test_xml_with_doctype_is_refused(fhir, client):
    """An XML body carrying a DTD is refused (400) and nothing is stored."""
    body = RESIDENT_XML.replace('<?xml version="1.0" encoding="UTF-8"?>\n',
                                '<?xml version="1.0"?>\n<!DOCTYPE Patient [<!ELEMENT Patient ANY>]>\n')
    resp = post_xml(client, "Patient", body)
    assert resp.status_code == 400
    assert outcome_issues(resp)[0]["severity"] == "error"
    assert fhir.search("Patient") == []


NARRATIVE = ('<Patient xmlns="http://hl7.org/fhir"><text><status value="generated"/>'
             '<div xmlns="http://www.w3.org/1999/xhtml">{}</div></text></Patient>')


def entity_bomb(levels: int) -> str:
    """A DTD whose entity ``lol<levels>`` expands to 3 * 10**levels characters."""
    entities = "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, levels + 1))
    return f'<?xml version="1.0"?>\n<!DOCTYPE Patient [<!ENTITY lol0 "lol">{entities}]>\n' + \
        NARRATIVE.format(f"&lol{levels};")


def test_xml_external_entity_is_refused(fhir, client):
    """An XXE payload reading /etc/passwd into the narrative is refused; the file content never appears."""
    body = ('<?xml version="1.0"?>\n<!DOCTYPE Patient [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
            + NARRATIVE.format("&xxe;"))
    resp = post_xml(client, "Patient", body)
    assert resp.status_code == 400
    assert "root:" not in resp.get_data(as_text=True)
    assert fhir.search("Patient") == []


def test_xml_billion_laughs_is_refused(fhir, client):
    """A billion-laughs bomb (10**9 expansions) is refused quickly with 400 and nothing is stored."""
    resp = post_xml(client, "Patient", entity_bomb(9))
    assert resp.status_code == 400
    assert len(resp.get_data()) < 10_000
    assert fhir.search("Patient") == []


def test_xml_small_entity_expansion_is_refused(fhir, client):
    """Even a modest internal-entity expansion (30 kB, under libxml2's own limits) is refused: no DTD at all."""
    resp = post_xml(client, "Patient", entity_bomb(4))
    assert resp.status_code == 400
    assert "lollol" not in resp.get_data(as_text=True)
    assert fhir.search("Patient") == []


def test_xml_entity_declared_in_utf16_document_is_refused(fhir, client):
    """A DTD hidden in a UTF-16 encoded document is refused as well."""
    body = ('<?xml version="1.0" encoding="UTF-16"?>\n<!DOCTYPE Patient [<!ENTITY e "x">]>\n'
            '<Patient xmlns="http://hl7.org/fhir"><name><family value="&e;"/></name></Patient>')
    resp = post_xml(client, "Patient", body.encode("utf-16"))
    assert resp.status_code == 400
    assert fhir.search("Patient") == []


# --- JSON in, media types ----------------------------------------------------------------------------

def test_invalid_json_is_400(fhir):
    """A body that is not JSON answers 400 with an OperationOutcome."""
    resp = fhir.post("Patient", '{"resourceType": "Patient", "name": [')
    assert resp.status_code == 400
    assert outcome_issues(resp)[0]["severity"] == "error"
    assert fhir.search("Patient") == []


def test_json_array_body_for_create_is_refused(fhir):
    """A JSON array is not a resource: create refuses it."""
    resp = fhir.post("Patient", [resident()])
    assert resp.status_code in (400, 422)
    assert fhir.search("Patient") == []


def test_plain_text_body_is_415(fhir):
    """A text/plain body answers 415 with an OperationOutcome and nothing is stored."""
    resp = fhir.post("Patient", json.dumps(resident()), content_type="text/plain")
    assert resp.status_code == 415
    assert outcome_issues(resp)
    assert fhir.search("Patient") == []


def test_application_json_body_is_accepted(fhir):
    """``Content-Type: application/json`` is accepted as FHIR JSON."""
    resp = fhir.post("Patient", resident(), content_type="application/json")
    assert resp.status_code == 201


def test_json_with_charset_parameter_is_accepted(fhir):
    """``application/fhir+json; charset=utf-8`` is accepted."""
    resp = fhir.post("Patient", resident(), content_type="application/fhir+json; charset=utf-8")
    assert resp.status_code == 201
    assert resp.get_json()["name"][0]["given"] == ["Geneviève"]


def test_impossible_accept_is_406(fhir):
    """``Accept: text/csv`` asks for nothing the server produces: 406."""
    created = fhir.create(resident())
    resp = fhir.get(f"Patient/{created['id']}", headers={"Accept": "text/csv"})
    assert resp.status_code == 406


def test_unknown_format_parameter_is_406(fhir):
    """``_format=turtle`` is not supported: 406."""
    created = fhir.create(resident())
    assert fhir.get(f"Patient/{created['id']}?_format=turtle").status_code == 406


def test_accept_wildcard_returns_json(fhir, client):
    """``Accept: */*`` answers FHIR JSON."""
    created = fhir.create(resident())
    resp = client.get(f"/fhir/Patient/{created['id']}", headers={"Accept": "*/*"})
    assert resp.status_code == 200
    assert resp.content_type.startswith("application/fhir+json")


def test_json_response_keeps_non_ascii_characters(fhir, client):
    """The JSON response is UTF-8 with accented characters intact."""
    created = fhir.create(resident())
    resp = client.get(f"/fhir/Patient/{created['id']}", headers={"Accept": "application/fhir+json"})
    assert "charset=utf-8" in resp.content_type
    assert "Geneviève".encode() in resp.get_data()


def test_pretty_json(fhir, client):
    """``_pretty=true`` indents the JSON output."""
    created = fhir.create(resident())
    resp = client.get(f"/fhir/Patient/{created['id']}?_pretty=true")
    assert b"\n  " in resp.get_data()


def test_create_answers_in_xml_when_asked(client):
    """A JSON create with ``_format=xml`` answers the stored resource in XML."""
    resp = client.post("/fhir/Patient?_format=xml", data=json.dumps(resident()),
                       headers={"Content-Type": "application/fhir+json"})
    assert resp.status_code == 201
    root = etree.fromstring(resp.get_data())
    assert root.find(f"{FHIR_NS}meta/{FHIR_NS}versionId").get("value") == "1"


def test_xml_transaction_bundle(fhir, client):
    """A transaction Bundle in XML with urn:uuid references is processed like its JSON twin."""
    body = """<Bundle xmlns="http://hl7.org/fhir">
  <type value="transaction"/>
  <entry>
    <fullUrl value="urn:uuid:0b6a3c1e-3f59-4d7c-a1b4-9a2f1e2c3d4e"/>
    <resource><Patient><name><family value="Bézier"/></name></Patient></resource>
    <request><method value="POST"/><url value="Patient"/></request>
  </entry>
  <entry>
    <resource><Observation>
      <status value="final"/>
      <code><text value="Poids"/></code>
      <subject><reference value="urn:uuid:0b6a3c1e-3f59-4d7c-a1b4-9a2f1e2c3d4e"/></subject>
      <valueQuantity><value value="61.5"/><unit value="kg"/></valueQuantity>
    </Observation></resource>
    <request><method value="POST"/><url value="Observation"/></request>
  </entry>
</Bundle>"""
    resp = post_xml(client, "", body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    (patient,) = fhir.search("Patient")
    (obs,) = fhir.search("Observation")
    assert obs["subject"]["reference"] == f"Patient/{patient['id']}"
    assert obs["valueQuantity"]["value"] == 61.5


def test_fhirpath_patch_in_xml(fhir, client):
    """A FHIRPath Patch sent as XML Parameters is applied."""
    created = fhir.create(resident())
    body = """<Parameters xmlns="http://hl7.org/fhir"><parameter><name value="operation"/>
  <part><name value="type"/><valueCode value="replace"/></part>
  <part><name value="path"/><valueString value="Patient.birthDate"/></part>
  <part><name value="value"/><valueDate value="1945-07-22"/></part>
</parameter></Parameters>"""
    resp = client.patch(f"/fhir/Patient/{created['id']}", data=body.encode(),
                        headers={"Content-Type": XML, "Accept": "application/fhir+json"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert fhir.get(f"Patient/{created['id']}").get_json()["birthDate"] == "1945-07-22"
