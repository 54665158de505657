"""The IHE XDM package of an MSSanté message, seen from this package: build it from a CDA, read it back.

Thin layer over :mod:`mappings.xdm.package` (layout, METADATA.XML, hash / size checks, ZIP safety) and
:func:`mappings.xds.metadata.from_cda` (XDS metadata with the DMP value sets): their errors become
:class:`XdmError` (a ValueError), which the sender treats as permanent and the receiver answers with code 906.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mappings.xdm.package import PackageError, build_package, read_package
from mappings.xds.metadata import from_cda
from mappings.xds.model import MetadataError, Submission

__all__ = ["XdmDocument", "XdmError", "build_xdm", "intended_recipient", "read_xdm"]


class XdmError(ValueError):
    """The package cannot be built from this CDA, or a received package cannot be trusted."""


@dataclass(frozen=True)
class XdmDocument:
    name: str  # path inside the ZIP
    content: bytes
    submission: Submission


def intended_recipient(address: str) -> str:
    """The SubmissionSet ``intendedRecipient`` of an e-mail address: ``XON|XCN|XTN`` with only the XTN
    (``||^^Internet^<address>``, IHE ITI TF-3 §4.2.3.3.x; the empty-XON/XCN form is unverified against MSSanté
    receivers)."""
    return f"||^^Internet^{address}"


def build_xdm(cda: bytes, *, recipients: Sequence[str] = (), visibility: Sequence[str] = (),
              software: str = "DUI server", version: str = "0.1.0", contact: str = "") -> bytes:
    """``IHE_XDM.ZIP`` for one CDA document (metadata derived from its header; ``recipients``: the e-mail
    addresses the message goes to, as intendedRecipient)."""
    try:
        submission = from_cda(cda, visibility=visibility,
                              intended_recipients=[intended_recipient(a) for a in recipients])
        return build_package(submission, cda, software=software, version=version, contact=contact)
    except (MetadataError, PackageError) as exc:
        raise XdmError(str(exc)) from exc


def read_xdm(data: bytes) -> list[XdmDocument]:
    """The documents of a received ``IHE_XDM.ZIP``, each checked against METADATA.XML (hash and size)."""
    try:
        package = read_package(data)
    except PackageError as exc:
        raise XdmError(str(exc)) from exc
    return [XdmDocument(package.document_name, package.document, package.submission)]
