"""SOAP 1.2 with WS-Addressing and MTOM/XOP: the transport of the XDS.b transactions (IHE ITI TF-2x Appendix V).

Specs: SOAP 1.2 (https://www.w3.org/TR/soap12-part1/), WS-Addressing 1.0 (https://www.w3.org/TR/ws-addr-soap/),
XOP/MTOM (https://www.w3.org/TR/xop10/, https://www.w3.org/TR/soap12-mtom/), ebRS 3.0 RegistryResponse; IHE ITI
TF-2x Appendix V "Web Services for IHE Transactions". Both sides use this module: the client
(:mod:`.xds_client`) and the sandbox (:mod:`.sandbox`).
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass, field
from urllib.parse import unquote

from lxml import etree

SOAP = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
XOP = "http://www.w3.org/2004/08/xop/include"
RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
ANONYMOUS = "http://www.w3.org/2005/08/addressing/anonymous"
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
PARTIAL = "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess"
SEVERITY_ERROR = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"

#: WS-Addressing actions of the transactions (request -> response)
PROVIDE = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
QUERY = "urn:ihe:iti:2007:RegistryStoredQuery"
RETRIEVE = "urn:ihe:iti:2007:RetrieveDocumentSet"
UPDATE = "urn:ihe:iti:2010:UpdateDocumentSet"
#: TD0.2 (DMP status). The DMP's own TD0.2 message is specified in its integration guide, not available here:
#: this action and the request shape in :mod:`.xdsb` are the sandbox's (unverified against the real DMP).
TD02 = "urn:dmp:ws:td02:PatientDmpStatus"
ACTIONS = (PROVIDE, QUERY, RETRIEVE, UPDATE, TD02)


def response_action(action: str) -> str:
    return action + "Response"


_XML_TYPES = ("application/soap+xml", "application/xop+xml", "text/xml", "application/xml")


class SoapError(Exception):
    """A malformed SOAP / MTOM message (``code`` is the SOAP fault subcode to answer with)."""

    def __init__(self, message: str, code: str = "env:Sender") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class RegistryError:
    """One ebRS RegistryError: the IHE error code, its context (no health data) and severity."""

    code: str
    context: str = ""
    severity: str = SEVERITY_ERROR
    location: str = ""


@dataclass(frozen=True)
class Message:
    """A received SOAP message: its envelope, WS-Addressing action and the MTOM attachments by Content-ID."""

    envelope: etree._Element
    action: str
    attachments: dict[str, bytes] = field(default_factory=dict)

    @property
    def header(self) -> etree._Element | None:
        return self.envelope.find(f"{{{SOAP}}}Header")

    @property
    def body(self) -> etree._Element:
        body = self.envelope.find(f"{{{SOAP}}}Body")
        if body is None or len(body) == 0:
            raise SoapError("the SOAP envelope has no Body content")
        return body[0]

    def security(self) -> etree._Element | None:
        header = self.header
        return None if header is None else header.find(f"{{{WSSE}}}Security")

    def include(self, holder: etree._Element) -> bytes:
        """The bytes an element carries: an xop:Include resolved to its MTOM part, or inline base64 text."""
        inc = holder.find(f"{{{XOP}}}Include")
        if inc is None:
            try:
                return base64.b64decode(holder.text or "", validate=False)
            except binascii.Error as exc:
                raise SoapError("a document is neither an xop:Include nor base64") from exc
        href = inc.get("href", "")
        cid = unquote(href[4:] if href.startswith("cid:") else href)
        if cid not in self.attachments:
            raise SoapError(f"xop:Include refers to a missing MIME part ({href})")
        return self.attachments[cid]


def envelope(action: str, body: etree._Element, *, to: str = "", security: etree._Element | None = None,
             relates_to: str = "") -> etree._Element:
    """A SOAP 1.2 envelope with the WS-Addressing headers and, when given, a wsse:Security header."""
    env = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"soap": SOAP, "wsa": WSA})
    header = etree.SubElement(env, f"{{{SOAP}}}Header")
    act = etree.SubElement(header, f"{{{WSA}}}Action")
    act.set(f"{{{SOAP}}}mustUnderstand", "1")
    act.text = action
    etree.SubElement(header, f"{{{WSA}}}MessageID").text = "urn:uuid:" + str(uuid.uuid4())
    if relates_to:
        etree.SubElement(header, f"{{{WSA}}}RelatesTo").text = relates_to
    else:
        reply = etree.SubElement(header, f"{{{WSA}}}ReplyTo")
        etree.SubElement(reply, f"{{{WSA}}}Address").text = ANONYMOUS
    if to:
        dest = etree.SubElement(header, f"{{{WSA}}}To")
        dest.set(f"{{{SOAP}}}mustUnderstand", "1")
        dest.text = to
    if security is not None:
        sec = etree.SubElement(header, f"{{{WSSE}}}Security", nsmap={"wsse": WSSE})
        sec.set(f"{{{SOAP}}}mustUnderstand", "1")
        sec.append(security)
    etree.SubElement(env, f"{{{SOAP}}}Body").append(body)
    return env


def xop_include(parent: etree._Element, cid: str) -> None:
    inc = etree.SubElement(parent, f"{{{XOP}}}Include", nsmap={"xop": XOP})
    inc.set("href", "cid:" + cid)


def new_cid() -> str:
    return f"{uuid.uuid4().hex}@dui.local"


def pack(env: etree._Element, action: str, attachments: dict[str, tuple[bytes, str]]) -> tuple[str, bytes]:
    """Serialise as MTOM (multipart/related, application/xop+xml root) -> (Content-Type, body bytes)."""
    boundary = "MIMEBoundary_" + uuid.uuid4().hex
    root_cid = "root." + new_cid()
    xml = etree.tostring(env, xml_declaration=True, encoding="UTF-8")
    parts = [(f"Content-Type: application/xop+xml; charset=UTF-8; type=\"application/soap+xml\"; "
              f"action=\"{action}\"\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <{root_cid}>", xml)]
    for cid, (data, ctype) in attachments.items():
        parts.append((f"Content-Type: {ctype}\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <{cid}>", data))
    chunks: list[bytes] = []
    for headers, data in parts:
        chunks += [b"--", boundary.encode(), b"\r\n", headers.encode("ascii"), b"\r\n\r\n", data, b"\r\n"]
    chunks += [b"--", boundary.encode(), b"--\r\n"]
    content_type = (f'multipart/related; boundary="{boundary}"; type="application/xop+xml"; '
                    f'start="<{root_cid}>"; start-info="application/soap+xml"; action="{action}"')
    return content_type, b"".join(chunks)


def plain(env: etree._Element, action: str) -> tuple[str, bytes]:
    """Serialise as a plain SOAP 1.2 message -> (Content-Type, body bytes)."""
    return (f'application/soap+xml; charset=UTF-8; action="{action}"',
            etree.tostring(env, xml_declaration=True, encoding="UTF-8"))


def _param(content_type: str, name: str) -> str:
    match = re.search(rf'{name}\s*=\s*("([^"]*)"|[^;\s]+)', content_type, re.IGNORECASE)
    if not match:
        return ""
    return match.group(2) if match.group(2) is not None else match.group(1)


def _split_headers(part: bytes) -> tuple[dict[str, str], bytes]:
    head, sep, data = part.partition(b"\r\n\r\n")
    if not sep:
        head, sep, data = part.partition(b"\n\n")
        if not sep:
            raise SoapError("an MTOM part has no header/body separator")
    headers: dict[str, str] = {}
    for line in head.decode("latin-1").splitlines():
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return headers, data


def unpack(content_type: str, body: bytes) -> tuple[bytes, dict[str, bytes]]:
    """MTOM or plain SOAP body -> (the envelope's bytes, attachments by Content-ID without brackets)."""
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime in _XML_TYPES:
        return body, {}
    if mime != "multipart/related":
        raise SoapError(f"unsupported content type for SOAP: {mime or 'none'}")
    boundary = _param(content_type, "boundary")
    if not boundary:
        raise SoapError("multipart/related without a boundary")
    start = _param(content_type, "start").strip("<>")
    delimiter = b"--" + boundary.encode("latin-1")
    segments = body.split(delimiter)
    root: bytes | None = None
    attachments: dict[str, bytes] = {}
    for segment in segments[1:]:
        if segment.startswith(b"--"):
            break
        segment = segment[2:] if segment.startswith(b"\r\n") else segment.lstrip(b"\n")
        if segment.endswith(b"\r\n"):
            segment = segment[:-2]
        elif segment.endswith(b"\n"):
            segment = segment[:-1]
        headers, data = _split_headers(segment)
        cid = headers.get("content-id", "").strip().strip("<>")
        if root is None and (cid == start or not start):
            root = data
        else:
            attachments[cid] = data
    if root is None:
        raise SoapError("the MTOM package has no root part")
    return root, attachments


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


def parse(content_type: str, body: bytes) -> Message:
    """A received SOAP 1.2 message; :class:`SoapError` when it is not a SOAP 1.2 envelope with a wsa:Action."""
    xml, attachments = unpack(content_type, body)
    try:
        env = etree.fromstring(xml, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise SoapError("the SOAP message is not well-formed XML") from exc
    if env.tag != f"{{{SOAP}}}Envelope":
        if env.tag.endswith("}Envelope"):
            raise SoapError("not a SOAP 1.2 envelope (wrong namespace)", "env:VersionMismatch")
        raise SoapError("not a SOAP envelope")
    action = (env.findtext(f"{{{SOAP}}}Header/{{{WSA}}}Action") or "").strip()
    if not action:
        raise SoapError("the SOAP header has no WS-Addressing Action", "wsa:MessageAddressingHeaderRequired")
    return Message(env, action, attachments)


def fault(code: str, reason: str, subcode: str = "") -> etree._Element:
    """A SOAP 1.2 Fault body (``code`` env:Sender / env:Receiver; optional qualified subcode)."""
    el = etree.Element(f"{{{SOAP}}}Fault", nsmap={"env": SOAP, "wsse": WSSE, "wsa": WSA})
    code_el = etree.SubElement(el, f"{{{SOAP}}}Code")
    etree.SubElement(code_el, f"{{{SOAP}}}Value").text = code
    if subcode:
        sub = etree.SubElement(code_el, f"{{{SOAP}}}Subcode")
        etree.SubElement(sub, f"{{{SOAP}}}Value").text = subcode
    text = etree.SubElement(etree.SubElement(el, f"{{{SOAP}}}Reason"), f"{{{SOAP}}}Text")
    text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    text.text = reason
    return el


@dataclass(frozen=True)
class Fault:
    code: str
    subcode: str
    reason: str


def read_fault(body: etree._Element) -> Fault | None:
    if body.tag != f"{{{SOAP}}}Fault":
        return None
    return Fault((body.findtext(f"{{{SOAP}}}Code/{{{SOAP}}}Value") or "").strip(),
                 (body.findtext(f"{{{SOAP}}}Code/{{{SOAP}}}Subcode/{{{SOAP}}}Value") or "").strip(),
                 (body.findtext(f"{{{SOAP}}}Reason/{{{SOAP}}}Text") or "").strip())


def registry_response(errors: list[RegistryError] | tuple[RegistryError, ...] = (),
                      tag: str = f"{{{RS}}}RegistryResponse") -> etree._Element:
    """An ebRS RegistryResponse: Success when no error has severity Error, Failure otherwise."""
    failed = any(e.severity == SEVERITY_ERROR for e in errors)
    el = etree.Element(tag, nsmap={"rs": RS}, status=FAILURE if failed else SUCCESS)
    add_errors(el, errors)
    return el


def add_errors(el: etree._Element, errors: list[RegistryError] | tuple[RegistryError, ...]) -> None:
    if not errors:
        return
    holder = etree.SubElement(el, f"{{{RS}}}RegistryErrorList")
    for e in errors:
        attrs = {"errorCode": e.code, "codeContext": e.context, "severity": e.severity}
        if e.location:
            attrs["location"] = e.location
        etree.SubElement(holder, f"{{{RS}}}RegistryError", attrs)


def read_registry_response(el: etree._Element) -> tuple[str, list[RegistryError]]:
    """(status, errors) of any element carrying the ebRS status and RegistryErrorList (responses of ITI-18/41/43/57)."""
    holder = el if el.get("status") else el.find(f"{{{RS}}}RegistryResponse")
    if holder is None:
        raise SoapError("the response carries no registry status")
    errors = [RegistryError(e.get("errorCode", ""), e.get("codeContext", ""), e.get("severity", SEVERITY_ERROR),
                            e.get("location", ""))
              for e in holder.iterfind(f"{{{RS}}}RegistryErrorList/{{{RS}}}RegistryError")]
    return holder.get("status", ""), errors
