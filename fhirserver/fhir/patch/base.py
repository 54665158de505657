"""What the patch modules share: :class:`PatchError` and the JSON type aliases."""

from __future__ import annotations

from typing import Any

JsonObject = dict[str, Any]
AstNode = dict[str, Any]  # a node of fhirpathpy's FHIRPath syntax tree


class PatchError(ValueError):
    """A patch that cannot be applied; the message names the operation (0-based index) and its path."""
