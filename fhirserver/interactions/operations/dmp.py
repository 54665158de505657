"""``DocumentReference/{id}/$send-to-dmp`` — queue a document for the DMP through the outbox (documents issue)."""

from __future__ import annotations

from fhirserver.interactions.operations import Operation

OPERATIONS: list[Operation] = []
