"""The narrative (https://hl7.org/fhir/R4/narrative.html#xhtml): the XHTML ``div`` embedded as-is in the XML
and carried in JSON as its serialised string (with the XHTML namespace declaration).

JSON -> XML (:func:`prepare_xhtml`) embeds the string as it is, after checking that it is a single well-formed
XHTML ``<div>``; carriage returns in text and tabs / line feeds in attribute values are written as character
references so that XML parsing keeps them, unless the div holds comments, CDATA or processing instructions.
XML -> JSON (:func:`xhtml_to_json`) serialises the XHTML tree with the conventions of the official JSON
examples: ``&amp; &lt; &gt; &quot;`` escaped, empty elements self-closed, comments kept.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from fhirserver.fhir.xml.common import XHTML_DIV_TAG, XHTML_NS, XHTML_PREFIX, XML_PREFIX, Fail, safe_parser


def _escape_xhtml(text: str) -> str:
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if '"' in text:
        text = text.replace('"', "&quot;")
    return text


def xhtml_to_json(node: etree._Element) -> str:
    """Serialise an XHTML ``div`` to the JSON string form (default XHTML namespace declared on it)."""
    parts: list[str] = []
    _serialise_xhtml(node, parts, True)
    return "".join(parts)


def _serialise_xhtml(node: etree._Element, parts: list[str], is_root: bool) -> None:
    tag = node.tag
    if tag.__class__ is not str:  # comment (processing instructions are removed by the parser)
        parts.append("<!--" + (node.text or "") + "-->")
    else:
        if not tag.startswith(XHTML_PREFIX):
            raise Fail(f"element {tag!r} is not allowed in the narrative (XHTML only)")
        name = tag[len(XHTML_PREFIX) :]
        parts.append("<" + name + (' xmlns="' + XHTML_NS + '"' if is_root else ""))
        if len(node.attrib):
            for key, value in node.items():
                if key[0] == "{":
                    if not key.startswith(XML_PREFIX):
                        raise Fail(f"attribute {key!r} is not allowed in the narrative")
                    key = "xml:" + key[len(XML_PREFIX) :]
                parts.append(" " + key + '="' + _escape_xhtml(value) + '"')
        text = node.text
        if text is None and not len(node):
            parts.append("/>")
        else:
            parts.append(">")
            if text:
                parts.append(_escape_xhtml(text))
            for child in node:
                _serialise_xhtml(child, parts, False)
            parts.append("</" + name + ">")
    if not is_root:
        tail = node.tail
        if tail:
            parts.append(_escape_xhtml(tail))


_DIV_START_RE = re.compile(r"<div(?=[\s/>])")
# Tokens of an XHTML fragment without comments, CDATA or processing instructions: a tag (attribute
# values cannot contain "<" in well-formed XML, which also keeps this regex linear) or a run of text.
_MARKUP_RE = re.compile(r"""(<[^<>"']*(?:(?:"[^"<]*"|'[^'<]*')[^<>"']*)*>)|([^<]+)""")
_ATTRIBUTE_VALUE_RE = re.compile(r""""[^"<]*"|'[^'<]*'""")
_WHITESPACE_REFS = {"\r": "&#13;", "\n": "&#10;", "\t": "&#9;"}
_WHITESPACE_RE = re.compile(r"[\r\n\t]")
# cheap test for an attribute value holding a tab / line feed (may also match text: then harmless)
_ATTRIBUTE_WHITESPACE_RE = re.compile(r"""=\s*(?:"[^"<]*[\n\t]|'[^'<]*[\n\t])""")


def _protect_whitespace(match: re.Match[str]) -> str:
    return _WHITESPACE_REFS[match.group()]


def _protect_attribute_value(match: re.Match[str]) -> str:
    return _WHITESPACE_RE.sub(_protect_whitespace, match.group())


def _protect_markup(match: re.Match[str]) -> str:
    tag = match.group(1)
    if tag is not None:
        if "\r" in tag or "\n" in tag or "\t" in tag:
            return _ATTRIBUTE_VALUE_RE.sub(_protect_attribute_value, tag)
        return tag
    text = match.group(2)
    return text.replace("\r", "&#13;") if "\r" in text else text


def prepare_xhtml(value: Any) -> str:
    """Check a JSON narrative string and return the exact text to embed in the XML document."""
    if not isinstance(value, str):
        raise Fail(f"narrative must be a string, got {type(value).__name__}")
    text = value.strip()
    if not text.startswith("<") or text.startswith(("<?", "<!")) or "<!DOCTYPE" in text:
        raise Fail("narrative must be a single XHTML <div> element")
    if ("\r" in text or _ATTRIBUTE_WHITESPACE_RE.search(text)) and "<!" not in text and "<?" not in text:
        # keep carriage returns of text and white space of attribute values through XML parsing
        text = _MARKUP_RE.sub(_protect_markup, text)
    root = _parse_fragment(text)
    if root.tag == "div":
        # FHIR requires the XHTML namespace; add it when a client forgot it
        text = _DIV_START_RE.sub('<div xmlns="' + XHTML_NS + '"', text, count=1)
        root = _parse_fragment(text)
    if root.tag != XHTML_DIV_TAG:
        raise Fail(f"narrative must be an XHTML <div> element, got {root.tag!r}")
    if root.getprevious() is not None or root.getnext() is not None:
        raise Fail("narrative must be a single XHTML <div> element")
    for node in root.iter():
        tag = node.tag
        if tag.__class__ is str and not tag.startswith(XHTML_PREFIX):
            raise Fail(f"element {tag!r} is not allowed in the narrative (XHTML only)")
    return text


def _parse_fragment(text: str) -> etree._Element:
    try:
        root = etree.fromstring(text, safe_parser())
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise Fail(f"narrative is not well-formed XHTML: {exc}") from None
    if root.getroottree().docinfo.doctype:
        raise Fail("narrative must not carry a DOCTYPE")
    return root
