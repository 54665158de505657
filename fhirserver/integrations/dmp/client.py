"""The DMP client interface: one Protocol, two implementations (XDS.b SOAP in :mod:`.soap`, PDSm FHIR in :mod:`.pdsm`).

The transactions are those of the DMP "TD" table (ANS, *DMP — Guide d'intégration*; IHE ITI TF-2b, ITI TF-3):

========  ===============================  =================================================
TD0.2     :meth:`DmpClient.dmp_status`      does the usager have an active DMP we may feed?
TD2/2.1   :meth:`~DmpClient.provide_and_register`  ITI-41 (SOAP) / ITI-65 (PDSm); RPLC when replacing
TD3.1     :meth:`~DmpClient.find_documents` ITI-18 FindDocuments (SOAP) / search (PDSm)
TD3.2     :meth:`~DmpClient.retrieve`       ITI-43 (SOAP) / read of the Binary (PDSm)
TD3.3     :meth:`~DmpClient.update_metadata` ITI-57 (SOAP) / JSON PATCH (PDSm): visibility, archive, deprecate
========  ===============================  =================================================

Errors: :class:`~fhirserver.integrations.outbox.TransientError` (network, timeouts, 5xx — retry later) and
:class:`~fhirserver.integrations.outbox.PermanentError` (the DMP refused; ``codes`` carries its registry error
codes) — the two exception types the outbox worker understands. No health data goes into their messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from fhirserver.integrations.outbox import PermanentError, TransientError
from mappings.xds.valuesets import VISIBILITY_LABELS  # TRE_A07 labels carried as extra confidentiality codes

__all__ = [
    "ARCHIVED", "APPROVED", "DEPRECATED", "VISIBILITY_LABELS", "Actor", "DmpClient", "DmpRefused", "DmpStatus",
    "DocumentInfo", "Ins", "PermanentError", "SubmitResult", "TransientError",
]

#: XDS availability statuses (ebRIM StatusType; the DMP's own "archived" status, ANS CI-SIS volet DMP)
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
DEPRECATED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"
ARCHIVED = "urn:asip:ci-sis:2010:StatusType:Archived"


class DmpRefused(PermanentError):
    """The DMP refused the request; ``codes`` are its error codes (e.g. ``XDSRegistryMetadataError``)."""

    def __init__(self, message: str, codes: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.codes = codes


@dataclass(frozen=True)
class Ins:
    """A usager's INS (NIR or NIA) with its assigning authority OID."""

    value: str
    oid: str

    def cx(self) -> str:
        """The HL7 v2 CX form the DMP uses for patientId and the VIHF resource-id: ``ins^^^&OID&ISO^NH``."""
        return f"{self.value}^^^&{self.oid}&ISO^NH"

    @classmethod
    def from_cx(cls, text: str) -> Ins:
        """Parse ``ins^^^&OID&ISO^NH``; ValueError when it is not that shape."""
        parts = text.split("^")
        if len(parts) < 4 or not parts[0]:
            raise ValueError("not an HL7 CX patient identifier")
        authority = parts[3].split("&")
        if len(authority) < 3 or authority[2] != "ISO" or not authority[1]:
            raise ValueError("the CX identifier has no ISO assigning authority")
        return cls(parts[0], authority[1])


@dataclass(frozen=True)
class Actor:
    """Who acts on the DMP: the subject of the VIHF assertion (french-interop.md §6.3).

    ``roles`` are ``(code, codeSystem, displayName)`` triples: the profession first (TRE_G15 / TRE_R85 …);
    ``structure_id`` is the structure's national identifier (Identifiant_Structure, e.g. ``3`` + FINESS),
    ``sector`` the structure's activity sector (Secteur_Activite, a JDV_J61 code, ``code^OID``).
    """

    id: str
    name: str
    structure_id: str
    sector: str
    roles: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True)
class DmpStatus:
    """TD0.2: the state of the usager's DMP (``active``, ``closed`` or ``absent``) and whether we may feed it."""

    state: str
    may_feed: bool
    reason: str = ""


@dataclass(frozen=True)
class SubmitResult:
    """Outcome of a provide-and-register: ``duplicate`` means the very same document was already there."""

    unique_id: str
    entry_id: str = ""
    duplicate: bool = False


@dataclass(frozen=True)
class DocumentInfo:
    """One DocumentEntry as the registry returns it (ITI-18 LeafClass / PDSm DocumentReference)."""

    unique_id: str
    entry_id: str
    status: str
    hash: str
    size: int
    type_code: str = ""
    class_code: str = ""
    title: str = ""
    repository_id: str = ""
    confidentiality: tuple[str, ...] = ()
    replaced_by: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def visibility(self) -> tuple[str, ...]:
        return tuple(c for c in self.confidentiality if c in VISIBILITY_LABELS)


class DmpClient(Protocol):
    """The DMP seam. Building a client opens no connection; each call is one (or a few) HTTP exchanges."""

    def dmp_status(self, ins: Ins, actor: Actor) -> DmpStatus:
        """TD0.2: does ``ins`` have an active DMP that ``actor`` may feed?"""
        ...

    def provide_and_register(self, document: bytes, actor: Actor, *, visibility: tuple[str, ...] = (),
                             replaces: str | None = None) -> SubmitResult:
        """Send one CDA document (its XDS metadata derived from its header); ``replaces`` = the uniqueId of the
        document it replaces (RPLC: the old entry becomes Deprecated). Sending the same document again answers
        ``duplicate=True``; the same uniqueId with different content is a :class:`DmpRefused`."""
        ...

    def find_documents(self, ins: Ins, actor: Actor, *,
                       statuses: tuple[str, ...] = (APPROVED,)) -> list[DocumentInfo]:
        """ITI-18 FindDocuments for the usager, filtered by availability status."""
        ...

    def retrieve(self, ins: Ins, actor: Actor, unique_id: str) -> bytes:
        """ITI-43: the bytes of one document."""
        ...

    def update_metadata(self, ins: Ins, actor: Actor, unique_id: str, *,
                        visibility: tuple[str, ...] | None = None, status: str | None = None) -> DocumentInfo:
        """ITI-57: set the visibility labels (``()`` clears them) and/or the availability status
        (:data:`ARCHIVED`, :data:`DEPRECATED`, :data:`APPROVED`); returns the updated entry."""
        ...


def check_visibility(labels: tuple[str, ...]) -> tuple[str, ...]:
    """The labels in a stable order; ValueError naming a label that is not a DMP visibility label."""
    unknown = [x for x in labels if x not in VISIBILITY_LABELS]
    if unknown:
        raise ValueError(f"not a DMP visibility label: {', '.join(unknown)} "
                         f"(expected {', '.join(VISIBILITY_LABELS)})")
    return tuple(x for x in VISIBILITY_LABELS if x in labels)
