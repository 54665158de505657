"""``Patient/{id}/$dlu`` — the DLU-EHPAD / FLUDT documents of a usager (documents issue)."""

from __future__ import annotations

from fhirserver.interactions.operations import Operation

OPERATIONS: list[Operation] = []
