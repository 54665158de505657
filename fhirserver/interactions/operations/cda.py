"""``DocumentReference/{id}/$generate-cda`` — the CDA R2 (CI-SIS) document of a DocumentReference (documents issue)."""

from __future__ import annotations

from fhirserver.interactions.operations import Operation

OPERATIONS: list[Operation] = []
