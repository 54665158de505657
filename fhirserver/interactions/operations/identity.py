"""Placeholder: operations of this module are being built (issue 3)."""

from __future__ import annotations

from fhirserver.interactions.operations import Operation

OPERATIONS: list[Operation] = []
