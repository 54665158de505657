"""FHIR operations. Each module lists its operations as :class:`Operation` records; the router collects them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fhirserver.interactions.context import Context, FhirRequest, FhirResponse
    from fhirserver.storage.sql.repository import SqlSession


@dataclass(frozen=True)
class Operation:
    """One operation: ``$name`` on the given scopes ("system", "type", "instance") and resource types
    (None: every type). Read-only operations are also allowed with GET and run in a read transaction."""

    name: str
    handler: Callable[[FhirRequest, Context, SqlSession], FhirResponse]
    scopes: frozenset[str]
    types: frozenset[str] | None = None
    read_only: bool = False
    #: canonical URL of the OperationDefinition, advertised in the CapabilityStatement
    definition: str = ""
