"""The outbox delivery interface: what a deliverer (DMP, MSSanté) receives and may raise.

Transactional outbox pattern (https://microservices.io/patterns/data/transactional-outbox.html): the request to
send is committed in the same database transaction as the document; ``dui worker`` claims due items and hands each
one to the :class:`Deliverer` registered for its kind. Delivery must be idempotent by ``unique_id`` (the CDA
document id, XDS ``uniqueId``): after a crash an item may be handed over again, and a redelivery must not create a
second document at the receiver.

Example deliverer (the shape helpers D and E implement)::

    class SandboxDeliverer:
        kind = "dmp"

        def deliver(self, item: OutboxItem) -> DeliveryResult:
            try:
                response = post_iti41(item.payload, item.metadata)
            except ConnectionError as exc:
                raise TransientError("DMP unreachable") from exc   # retried with backoff
            if response.refused:
                raise PermanentError(f"DMP refused: {response.code}")  # status failed, no retry
            return DeliveryResult(remote_id=response.unique_id, detail="registered")

Registration: :func:`fhirserver.domain.configure` keeps the deliverers in ``ctx.services.deliverers``
(kind -> deliverer); ``dui worker`` uses them. Register with ``setdefault`` (the order of the lines in
``configure`` does not matter)::

    ctx.services.deliverers["dmp"] = build_dmp_deliverer(ctx.settings)

Item metadata written by ``$send-to-dmp`` / ``$send-mssante`` (:mod:`fhirserver.interactions.operations.dmp`):
``visibility`` (list of DMP labels: MASQUE_PS, INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS_LEGAUX),
``replaces`` (uniqueId of the document this one replaces, or null), ``patient_id`` (the XDS patientId,
``INS^^^&OID&ISO^NH``), ``document_reference`` (its id and version), ``xds`` (a summary of the derived metadata:
class, type, format codes, hash, size), and for MSSanté ``recipient``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

KINDS = ("dmp", "mssante")

PENDING = "pending"
SENDING = "sending"
DELIVERED = "delivered"
FAILED = "failed"
CANCELLED = "cancelled"
STATUSES = (PENDING, SENDING, DELIVERED, FAILED, CANCELLED)


class DeliveryError(Exception):
    """Base of the errors a deliverer raises. The message is stored in ``last_error``: never put health data
    (names, INS, document content) in it — codes, HTTP statuses and error identifiers only."""


class TransientError(DeliveryError):
    """The delivery may succeed later (network error, timeout, 5xx, receiver busy): retry with backoff."""


class PermanentError(DeliveryError):
    """The receiver refused the item for good (invalid document, unknown patient, 4xx): status ``failed``."""


@dataclass(frozen=True)
class DeliveryResult:
    """What a successful delivery returns. ``remote_id`` is the receiver's identifier of what it stored (for the
    DMP the document uniqueId it registered, for MSSanté the Message-ID); ``detail`` a short, health-data-free
    note (e.g. "registered", "already registered")."""

    remote_id: str = ""
    detail: str = ""


@dataclass(frozen=True)
class OutboxItem:
    """One delivery request as the deliverer sees it.

    ``unique_id``: the CDA document id (``root^extension`` or ``root``), the idempotency key;
    ``target``: the recipient (an MSSanté address) or ``""`` for the DMP;
    ``document_id``: the DocumentReference id; ``payload``: the CDA document bytes;
    ``metadata``: JSON-serialisable data the deliverer needs (XDS metadata, message fields …);
    ``attempts``: how many deliveries were already tried (0 on the first one).
    """

    id: int
    kind: str
    unique_id: str
    document_id: str
    payload: bytes
    metadata: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    target: str = ""


@runtime_checkable
class Deliverer(Protocol):
    """Delivers outbox items of one ``kind`` ("dmp" or "mssante"). Raise :class:`TransientError` to retry later,
    :class:`PermanentError` to give up; any other exception counts as transient."""

    kind: str

    def deliver(self, item: OutboxItem) -> DeliveryResult: ...
