"""XDS.b metadata objects (IHE ITI TF-3 §4.2 "Metadata used in Document Sharing profiles"), typed.

https://profiles.ihe.net/ITI/TF/Volume3/ch-4.2.html — DocumentEntry (§4.2.3.2), SubmissionSet (§4.2.3.3);
DMP constraints: ANS "Volet Partage de documents de santé" and french-interop.md §6.2.

Values keep their HL7 v2 encodings as strings (CX, XCN, XON, DTM) because that is what travels in ebRIM Slots
and ExternalIdentifiers; helpers in :mod:`mappings.xds.hl7v2` build them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Code:
    """A coded metadata value: code, coding scheme (OID) and display name (ebRIM Classification)."""

    code: str
    scheme: str
    display: str


@dataclass(frozen=True)
class Author:
    """XDS author: authorPerson (XCN), authorInstitution (XON), authorRole, authorSpecialty, authorTelecom."""

    person: str | None = None
    institutions: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    specialties: tuple[str, ...] = ()
    telecoms: tuple[str, ...] = ()


@dataclass(frozen=True)
class DocumentEntry:
    """One XDSDocumentEntry; times are UTC DTM (``YYYY[MM[DD[hh[mm[ss]]]]]``)."""

    unique_id: str
    patient_id: str
    source_patient_id: str
    source_patient_info: tuple[str, ...]
    class_code: Code
    type_code: Code
    format_code: Code
    healthcare_facility_type_code: Code
    practice_setting_code: Code
    confidentiality_codes: tuple[Code, ...]
    authors: tuple[Author, ...]
    creation_time: str
    title: str
    language_code: str
    hash: str
    size: int
    mime_type: str = "text/xml"
    entry_id: str = "Document01"
    event_codes: tuple[Code, ...] = ()
    legal_authenticator: str | None = None
    service_start_time: str | None = None
    service_stop_time: str | None = None
    logical_id: str | None = None
    version: str | None = None
    reference_ids: tuple[str, ...] = ()
    repository_unique_id: str | None = None
    uri: str | None = None
    comments: str | None = None
    availability_status: str = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"


@dataclass(frozen=True)
class SubmissionSet:
    """The XDSSubmissionSet that carries the DocumentEntry."""

    unique_id: str
    source_id: str
    patient_id: str
    submission_time: str
    content_type_code: Code
    authors: tuple[Author, ...]
    entry_id: str = "SubmissionSet01"
    title: str | None = None
    intended_recipients: tuple[str, ...] = ()
    comments: str | None = None


@dataclass(frozen=True)
class Submission:
    """What one ITI-41 (or one XDM SUBSET) carries: a SubmissionSet, its DocumentEntry, an optional RPLC.

    ``replaced_entry_uuid`` is the entryUUID (``urn:uuid:…``) of the DocumentEntry this one replaces
    (RPLC association); ``replaced_unique_id`` is the replaced document's uniqueId from the CDA
    ``relatedDocument[@typeCode='RPLC']/parentDocument/id``.
    """

    submission_set: SubmissionSet
    document: DocumentEntry
    replaced_unique_id: str | None = None
    replaced_entry_uuid: str | None = None


@dataclass(frozen=True)
class Problem:
    """One reason metadata cannot be produced: what is wrong, where in the source, which XDS attribute."""

    text: str
    location: str = ""
    attribute: str = ""


@dataclass
class ProblemsError(Exception):
    """An error that lists every problem found (a message, then one Problem per reason)."""

    message: str
    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        details = "; ".join(
            p.text + (f" (at {p.location})" if p.location else "") for p in self.problems)
        return f"{self.message}: {details}" if details else self.message


class MetadataError(ProblemsError):
    """Raised before anything is sent: the metadata would not be accepted (codes outside the DMP value sets …)."""
