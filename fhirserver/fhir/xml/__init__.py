"""Conversion between the FHIR R4 JSON and XML representations of resources.

Specifications followed:

- XML format: https://hl7.org/fhir/R4/xml.html
- JSON format: https://hl7.org/fhir/R4/json.html (primitives, ``_element`` siblings, ``null`` placeholders)
- Narrative XHTML: https://hl7.org/fhir/R4/narrative.html#xhtml
- Official R4 JSON schema: https://hl7.org/fhir/R4/fhir.schema.json.zip

The conversion is data-driven: the official R4 JSON schema (packaged as
``fhirserver/fhir/definitions/fhir.schema.json``) gives, for every type, its elements in definition
order (which is the mandatory XML element order), their cardinality (``"type": "array"``), their type
(primitive, complex / backbone element, nested resource via ``ResourceList`` or XHTML) and the list of
resource types. The schema is loaded lazily, once, on first use; per-type lookup tables are built once
and cached.

Mapping rules (JSON form on the left, XML on the right):

- ``resourceType`` <-> name of the resource element (in the ``http://hl7.org/fhir`` namespace);
- a primitive ``"x": v`` <-> ``<x value="v"/>``; the JSON sibling ``"_x": {"id": .., "extension": [..]}``
  <-> the ``id`` attribute and ``<extension>`` children of ``<x>``; repeating primitives use parallel
  arrays with ``null`` placeholders;
- ``id`` of any element that is not a resource, and ``url`` of ``Extension``, are XML attributes;
- a JSON property whose value is ``null`` (outside the placeholders above) is treated as absent;
- nested resources (``contained``, ``Bundle.entry.resource``, ``Parameters.parameter.resource`` ...)
  are wrapped in an element named after their resource type;
- ``Narrative.div`` is an XHTML ``<div>`` (namespace ``http://www.w3.org/1999/xhtml``) embedded in the
  XML as-is and carried in JSON as its serialised string (with the XHTML namespace declaration).

Numbers. JSON values come from :func:`json.loads` with its defaults (``int`` / ``float``):

- ``integer``, ``positiveInt`` and ``unsignedInt`` are ``int`` both ways;
- ``decimal`` values are written to XML with :func:`repr` for ``float`` (the shortest string that
  round-trips exactly), ``str`` for ``int`` and :class:`decimal.Decimal`; XML decimals are read as
  ``int`` when the literal is integral without a dot or exponent (``"3"``, ``"-12"``) and as ``float``
  otherwise (``"1.50"`` -> ``1.5``, ``"1e3"`` -> ``1000.0``). JSON -> XML -> JSON is therefore exact,
  while trailing zeros of an XML literal are not preserved (the JSON side of the server uses plain
  floats as well). Non-finite values are refused.

Narrative ``div`` strings: JSON -> XML embeds the string as it is (after checking that it is a
single well-formed XHTML ``<div>``; carriage returns in text and tabs / line feeds in attribute
values are written as character references so that XML parsing keeps them, unless the div holds
comments, CDATA or processing instructions). XML -> JSON serialises the XHTML tree with the
conventions of the official JSON examples: ``&amp; &lt; &gt; &quot;`` escaped, empty elements
self-closed, comments kept. The only difference a JSON -> XML -> JSON round trip can show is
therefore ``<x></x>`` becoming ``<x/>`` (the XML infoset does not distinguish them).

Parsing is safe: lxml with ``resolve_entities=False, no_network=True, load_dtd=False,
huge_tree=False``; any document (or narrative) carrying a DOCTYPE is refused before parsing, with a
post-parse check as a second line of defence, so XXE and entity-expansion ("billion laughs")
payloads are never expanded. The pre-scan is deliberately blunt: a literal ``<!DOCTYPE`` inside a
comment or CDATA section is refused too. ``huge_tree=False`` also bounds documents: nesting depth
256, text and attribute values of about 10 MB (a larger ``Binary.data`` cannot be read from XML).

Comments and processing instructions outside the narrative are ignored, and child elements are
accepted in any order when parsing XML (the JSON output is always in definition order). Everything
else that is not FHIR R4 raises :class:`FhirXmlError`, whose ``path`` is the FHIRPath-like location
of the offending element (e.g. ``Patient.name[0].given``).

Layout: :mod:`.model` (the type model from the schema), :mod:`.common` (namespaces, errors, the hardened
parser), :mod:`.narrative` (the XHTML ``div`` both ways), :mod:`.read` (XML -> JSON) and :mod:`.write`
(JSON -> XML).
"""

from __future__ import annotations

from fhirserver.fhir.xml.common import FHIR_NS, XHTML_NS, FhirXmlError
from fhirserver.fhir.xml.model import schema_model
from fhirserver.fhir.xml.read import xml_to_resource
from fhirserver.fhir.xml.write import resource_to_xml

__all__ = ["FHIR_NS", "XHTML_NS", "FhirXmlError", "resource_to_xml", "xml_to_resource"]

# The cached schema loader under its former name: it stays empty until the first conversion (the schema is
# loaded lazily, which tests/unit/test_xml.py checks).
_model = schema_model
