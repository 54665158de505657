"""Transactional outbox: delivery requests committed with the document, delivered by ``dui worker``.

Public interface for deliverers: :mod:`fhirserver.integrations.outbox.types` (re-exported here).
"""

from fhirserver.integrations.outbox.types import (
    CANCELLED,
    DELIVERED,
    FAILED,
    KINDS,
    PENDING,
    SENDING,
    STATUSES,
    Deliverer,
    DeliveryError,
    DeliveryResult,
    OutboxItem,
    PermanentError,
    TransientError,
)

__all__ = [
    "CANCELLED", "DELIVERED", "FAILED", "KINDS", "PENDING", "SENDING", "STATUSES",
    "Deliverer", "DeliveryError", "DeliveryResult", "OutboxItem", "PermanentError", "TransientError",
]
