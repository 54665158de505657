"""JSON Patch (RFC 6902, https://www.rfc-editor.org/rfc/rfc6902), applied with the ``jsonpatch`` library: the
``application/json-patch+json`` body of the FHIR ``patch`` interaction (https://hl7.org/fhir/R4/http.html#patch).
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import jsonpointer

from fhirserver.fhir.patch.base import PatchError


def apply_json_patch(resource: dict[str, Any], operations: list[dict[str, Any]]) -> dict[str, Any]:
    """Apply an RFC 6902 JSON Patch document to ``resource`` and return the patched copy.

    https://hl7.org/fhir/R4/http.html#patch - ``Content-Type: application/json-patch+json``.
    Operations are applied in order to a deep copy; the first failing one raises :class:`PatchError`
    naming its 0-based index, e.g. ``operation[2] test /birthDate: ...``.
    """
    if not isinstance(operations, list):
        raise PatchError("a JSON Patch document must be a JSON array of operation objects")
    document: Any = copy.deepcopy(resource)
    for index, operation in enumerate(copy.deepcopy(operations)):
        document = _apply_json_operation(document, index, operation)
    if not isinstance(document, dict):
        raise PatchError("the JSON Patch replaced the resource with something that is not a JSON object")
    return document


def _apply_json_operation(document: Any, index: int, operation: Any) -> Any:
    """Apply one JSON Patch operation in place, translating library errors into :class:`PatchError`."""
    if not isinstance(operation, dict):
        raise PatchError(f"operation[{index}]: must be a JSON object")
    label = f"operation[{index}] {operation.get('op', '?')} {operation.get('path', '?')}"
    for member in ("path", "from"):
        if member in operation and not isinstance(operation[member], str):
            raise PatchError(f"{label}: '{member}' must be a string JSON Pointer")
    try:
        return jsonpatch.JsonPatch([operation]).apply(document, in_place=True)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise PatchError(f"{label}: {exc}") from exc
