"""The Flask shell of the FHIR API: HTTP <-> :mod:`fhirserver.interactions.router`, nothing else.

Content negotiation (https://hl7.org/fhir/R4/http.html#mime-type): ``_format`` wins over ``Accept``; JSON and
XML both ways; 415 for a body in an unsupported media type; every error is an OperationOutcome.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from flask import Blueprint, Response, current_app, request

from fhirserver.audit.rest import REMOTE_ADDR
from fhirserver.errors import FhirError, Invalid, NotAcceptable, UnsupportedMediaType
from fhirserver.fhir.xml import FhirXmlError, resource_to_xml, xml_to_resource
from fhirserver.interactions.common import outcome_response
from fhirserver.interactions.context import Context, FhirRequest, FhirResponse
from fhirserver.interactions.router import handle
from fhirserver.web.state import fhir_base

bp = Blueprint("fhir", __name__)

JSON_TYPES = {"application/fhir+json", "application/json", "application/json+fhir", "json", "text/json"}
XML_TYPES = {"application/fhir+xml", "application/xml", "application/xml+fhir", "xml", "text/xml"}
PATCH_TYPES = {"application/json-patch+json"}
FORM = "application/x-www-form-urlencoded"


def _media(value: str | None) -> str:
    return (value or "").split(";")[0].strip().lower()


def _wants_xml() -> bool:
    fmt = request.args.get("_format")
    if fmt:
        kind = _media(fmt)
        if kind in XML_TYPES:
            return True
        if kind in JSON_TYPES:
            return False
        raise NotAcceptable(f"_format {fmt!r} is not supported (use json or xml)")
    accept = request.accept_mimetypes
    if not accept or accept.provided is False:
        return False
    best = accept.best_match(["application/fhir+json", "application/json", "application/fhir+xml",
                              "application/xml", "text/xml"])
    if best is None:
        # ``m in accept`` would match through wildcards ("*/*" is "in" any Accept): compare the listed values
        listed = {value.lower() for value, quality in accept if quality > 0}
        if listed & {"text/html", "*/*"}:
            return False
        raise NotAcceptable("the Accept header asks for no format this server produces (FHIR JSON or XML)")
    return best in XML_TYPES


def _parse_body() -> tuple[Any, list[tuple[str, str]]]:
    raw = request.get_data(cache=False)
    kind = _media(request.content_type)
    if kind == FORM:
        return None, parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
    if not raw.strip():
        return None, []
    if kind in JSON_TYPES or kind in PATCH_TYPES or kind == "":
        try:
            return json.loads(raw), []
        except (ValueError, UnicodeDecodeError) as exc:
            raise Invalid(f"the body is not valid JSON: {exc}") from exc
    if kind in XML_TYPES:
        try:
            return xml_to_resource(raw), []
        except FhirXmlError as exc:
            raise Invalid(f"the body is not valid FHIR XML: {exc}") from exc
    raise UnsupportedMediaType(f"unsupported Content-Type {kind!r}: use application/fhir+json or "
                               "application/fhir+xml (application/json-patch+json for JSON Patch)")


def _render(resp: FhirResponse, xml: bool) -> Response:
    headers = dict(resp.headers)
    if resp.resource is None:
        return Response(status=resp.status, headers=headers)
    if isinstance(resp.resource, bytes):  # a document that is not a FHIR resource (e.g. a CDA from $generate-cda)
        headers.setdefault("Content-Type", "application/octet-stream")
        return Response(resp.resource, status=resp.status, headers=headers)
    pretty = request.args.get("_pretty") == "true"
    if xml:
        body = resource_to_xml(resp.resource, pretty=pretty)
        mimetype = "application/fhir+xml"
    else:
        body = json.dumps(resp.resource, ensure_ascii=False, indent=2 if pretty else None,
                          separators=None if pretty else (",", ":")).encode("utf-8")
        mimetype = "application/fhir+json"
    return Response(body, status=resp.status, headers=headers, content_type=f"{mimetype}; charset=utf-8")


def error_response(error: FhirError) -> Response:
    """``error`` as an OperationOutcome in the format this request negotiated (JSON when that cannot be told):
    the app's error handlers (:mod:`fhirserver.web.errors`) answer with it for what escapes the interactions."""
    try:
        xml = _wants_xml()
    except FhirError:
        xml = False
    return _render(outcome_response(error), xml)




@bp.route("/", defaults={"path": ""}, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"])
@bp.route("/<path:path>", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"])
def fhir(path: str) -> Response:
    ctx: Context = current_app.config["DUI_CONTEXT"]
    xml = False
    try:
        xml = _wants_xml()
        body, form = _parse_body() if request.method in ("POST", "PUT", "PATCH") else (None, [])
        params = list(request.args.items(multi=True)) + form
        headers = {k.lower(): v for k, v in request.headers.items()}
        headers[REMOTE_ADDR] = request.remote_addr or ""  # the socket's address for the audit, never the client's
        method = "GET" if request.method == "HEAD" else request.method
        req = FhirRequest(method=method, path=path.strip("/"), params=params, headers=headers, body=body,
                          base_url=fhir_base(), principal=getattr(request, "dui_principal", None))
        if method in ("POST", "PUT") and body is None and not path.strip("/").endswith("_search") and not \
                path.strip("/").split("/")[-1].startswith("$"):
            raise Invalid("this interaction needs a resource in the body")
        resp = handle(req, ctx)
    except FhirError as exc:
        resp = outcome_response(exc)
    out = _render(resp, xml)
    if request.method == "HEAD":
        out.set_data(b"")
    return out
