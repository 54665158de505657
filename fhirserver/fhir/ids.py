"""Logical ids the server assigns (https://hl7.org/fhir/R4/resource.html#id: ``[A-Za-z0-9\\-\\.]{1,64}``)."""

from __future__ import annotations

import uuid


def new_id() -> str:
    """A fresh logical id: a UUID4 (36 characters of the id pattern), for creates, AuditEvents, Provenance."""
    return str(uuid.uuid4())
