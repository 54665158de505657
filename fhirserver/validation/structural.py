"""Structural validation of every write: fhir.resources R4B models plus the R4 JSON schema's required bindings.

- https://hl7.org/fhir/R4/validation.html — structure, cardinality, data types, required code bindings.
- fhir.resources 8 has pydantic models for R4B (which shares R4's structure for the resources both define); the
  eleven R4-only resource types (MedicinalProduct*, EffectEvidenceSynthesis, …) are checked against the
  official R4 JSON schema instead.
- Required bindings (``Patient.gender`` …) are the ``enum`` lists of the R4 JSON schema: checked by walking
  the resource with the schema, so every element path is named in the OperationOutcome.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any

from pydantic import ValidationError

from fhirserver.errors import Issue, Unprocessable
from fhirserver.fhir.definitions import json_schema, resource_types

_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


@cache
def _model(resource_type: str) -> Any:
    import fhir.resources.R4B as r4b

    try:
        return r4b.get_fhir_model_class(resource_type)
    except (KeyError, ValueError, AttributeError, ImportError):
        return None


@cache
def _schema_validator(resource_type: str) -> Any:
    import jsonschema

    schema = {"$ref": f"#/definitions/{resource_type}", "definitions": json_schema()["definitions"]}
    return jsonschema.Draft6Validator(schema)


def _loc_to_path(resource_type: str, loc: tuple[Any, ...]) -> str:
    path = resource_type
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "__root__":
            continue
        else:
            name = str(part)
            if name.endswith("__ext"):
                name = "_" + name[:-5]
            path += f".{name}"
    return path


def check_id(res_id: str) -> None:
    if not _ID.match(res_id):
        raise Unprocessable(f"invalid resource id {res_id!r}: 1 to 64 characters among A-Z a-z 0-9 - .",
                            [Issue(f"invalid resource id {res_id!r}", code="value", expression=("id",))])


def validate_resource(resource: Any, expected_type: str | None = None) -> None:
    """Raise :class:`Unprocessable` (422) listing every problem, each with the element's FHIRPath."""
    if not isinstance(resource, dict):
        raise Unprocessable("the body is not a FHIR resource (a JSON object was expected)")
    rt = resource.get("resourceType")
    if not isinstance(rt, str) or rt not in resource_types():
        raise Unprocessable(f"unknown resourceType {rt!r}",
                            [Issue(f"unknown resourceType {rt!r}", code="value", expression=("resourceType",))])
    if expected_type and rt != expected_type:
        raise Unprocessable(f"resourceType {rt} does not match the URL's type {expected_type}",
                            [Issue(f"resourceType {rt} does not match {expected_type}", code="invalid",
                                   expression=("resourceType",))])
    if "id" in resource:
        if not isinstance(resource["id"], str):
            raise Unprocessable("id must be a string", [Issue("id must be a string", expression=(f"{rt}.id",))])
        check_id(resource["id"])
    issues = _model_issues(rt, resource)
    issues.extend(binding_issues(rt, resource))
    if issues:
        summary = "; ".join(f"{i.expression[0] if i.expression else rt}: {i.diagnostics}" for i in issues[:5])
        raise Unprocessable(f"{rt} is not valid: {summary}", issues)


def _model_issues(rt: str, resource: dict[str, Any]) -> list[Issue]:
    model = _model(rt)
    if model is None:
        validator = _schema_validator(rt)
        out = []
        for err in validator.iter_errors(resource):
            path = _loc_to_path(rt, tuple(err.absolute_path))
            out.append(Issue(err.message[:300], code="structure", expression=(path,)))
        return out[:50]
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        return [Issue(_message(e), code="structure", expression=(_loc_to_path(rt, tuple(e["loc"])),))
                for e in exc.errors()[:50]]
    except (ValueError, TypeError) as exc:
        return [Issue(str(exc)[:300], code="structure", expression=(rt,))]
    return []


def _message(error: Mapping[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return "unknown element"
    if kind == "missing":
        return "required element is missing"
    return str(error.get("msg", "invalid value"))[:300]


# --- required bindings from the JSON schema --------------------------------------------------------

def binding_issues(rt: str, resource: dict[str, Any]) -> list[Issue]:
    issues: list[Issue] = []
    _walk_bindings(rt, resource, rt, issues)
    return issues


@cache
def _properties(definition: str) -> dict[str, tuple[frozenset[str] | None, str | None]]:
    """element -> (allowed codes of a required binding, or None; complex type to recurse into, or None)."""
    props = json_schema()["definitions"].get(definition, {}).get("properties", {})
    out: dict[str, tuple[frozenset[str] | None, str | None]] = {}
    primitive = {"string", "code", "uri", "url", "canonical", "id", "oid", "uuid", "markdown", "base64Binary",
                 "boolean", "integer", "decimal", "positiveInt", "unsignedInt", "date", "dateTime", "instant",
                 "time", "xhtml"}
    for name, spec in props.items():
        item = spec.get("items", spec)
        enum = item.get("enum")
        ref = item.get("$ref", "")
        target = ref.rsplit("/", 1)[-1] if ref else None
        if target in primitive or target in ("Extension", "Element"):
            target = None  # "ResourceList" is kept: a nested resource (contained, Bundle.entry.resource …)
        if enum and "4.0.0" in enum and "3.0.1" in enum:
            # erratum: the official R4 fhir.schema.json lists FHIRVersion codes up to 4.0.0 only, while the
            # 4.0.1 value set (https://hl7.org/fhir/R4/valueset-FHIR-version.html) also has 4.0.1
            enum = [*enum, "4.0.1"]
        out[name] = (frozenset(enum) if enum else None, target)
    return out


def _walk_bindings(definition: str, node: dict[str, Any], path: str, issues: list[Issue]) -> None:
    props = _properties(definition)
    for key, value in node.items():
        spec = props.get(key)
        if spec is None:
            continue
        enum, target = spec
        values = value if isinstance(value, list) else [value]
        for i, v in enumerate(values):
            where = f"{path}.{key}" + (f"[{i}]" if isinstance(value, list) else "")
            if enum is not None and isinstance(v, str) and v not in enum:
                allowed = ", ".join(sorted(enum)[:12])
                issues.append(Issue(f"value {v!r} is not in the required value set ({allowed})", code="code-invalid",
                                    expression=(where,)))
            elif target == "ResourceList":
                # a nested resource (contained, Bundle.entry.resource, Parameters.parameter.resource …)
                inner_type = v.get("resourceType") if isinstance(v, dict) else None
                if isinstance(inner_type, str) and inner_type in resource_types():
                    _walk_bindings(inner_type, v, where, issues)
            elif target and isinstance(v, dict):
                _walk_bindings(target, v, where, issues)
