"""IHE XDM media package (ITI-32 "Distribute Document Set on Media", ZIP over e-mail) as MSSanté uses it.

https://profiles.ihe.net/ITI/TF/Volume3/ch-3.32.html (ITI TF-2 §3.32.4.1.3 "Media content"), ANS "Volet Échange
de documents de santé" (french-interop.md §7). Layout::

    INDEX.HTM                           human-readable table of contents
    README.TXT                          the producing software
    IHE_XDM/SUBSET01/METADATA.XML       ebRIM SubmitObjectsRequest; the DocumentEntry URI slot = the file name
    IHE_XDM/SUBSET01/DOC0001.XML        the CDA document
    DOC0001.PDF                         optional human-readable rendition, outside the XDM hierarchy

:func:`build_package` gives the same bytes for the same input (fixed entry order, dates and compression).
:func:`read_package` refuses what a receiver must not trust: not a ZIP, encrypted entries, absolute or ``..`` paths,
links, duplicate names, too many entries, zip bombs (declared or actual size, compression ratio), a missing
INDEX.HTM / README.TXT / METADATA.XML, a document METADATA.XML names but the ZIP lacks (or one it does not name),
and a hash or size that differs from METADATA.XML. Every problem is collected and raised as :class:`PackageError`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import io
import stat
import zipfile
from dataclasses import dataclass

from lxml import etree

from mappings.xds import ebrim
from mappings.xds.model import MetadataError, Problem, ProblemsError, Submission

SUBSET = "IHE_XDM/SUBSET01"
METADATA = f"{SUBSET}/METADATA.XML"
INDEX = "INDEX.HTM"
README = "README.TXT"
DOCUMENT_NAME = "DOC0001.XML"
RENDITION_NAME = "DOC0001.PDF"
_EPOCH = (1980, 1, 1, 0, 0, 0)
_MAX_ENTRIES = 64
_MAX_TOTAL = 64 * 1024 * 1024
_MAX_RATIO = 200


class PackageError(ProblemsError):
    """The XDM package cannot be built or must not be trusted; ``problems`` says why, entry by entry."""


@dataclass(frozen=True)
class Package:
    """What :func:`read_package` found: the metadata, the document bytes, the other files."""

    submission: Submission
    document: bytes
    document_name: str
    files: dict[str, bytes]


def _info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    info.create_system = 3
    return info


def _index(submission: Submission, rendition: bool) -> bytes:
    doc = submission.document
    rows = [f'<li><a href="{SUBSET}/{html.escape(doc.uri or DOCUMENT_NAME)}">{html.escape(doc.title)}</a> '
            f'({html.escape(doc.type_code.display or doc.type_code.code)})</li>']
    if rendition:
        rows.append(f'<li><a href="{RENDITION_NAME}">{html.escape(doc.title)} (PDF)</a></li>')
    page = ("<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\"><title>IHE XDM</title></head>"
            f"<body><h1>Contenu du support IHE XDM</h1><ul>{''.join(rows)}</ul>"
            f'<p><a href="{README}">README.TXT</a></p></body></html>\n')
    return page.encode("utf-8")


def _readme(software: str, version: str, contact: str) -> bytes:
    text = (f"IHE XDM package (ITI-32) produced by {software} {version}.\r\n"
            f"Contact: {contact}\r\n"
            f"Metadata: {METADATA}\r\n")
    return text.encode("utf-8")


def build_package(submission: Submission, document: bytes, *, rendition: bytes | None = None,
                  software: str = "DUI server", version: str = "0.1.0", contact: str = "") -> bytes:
    """The XDM ZIP for one document; METADATA.XML gets ``URI = DOC0001.XML`` and is checked against the bytes.

    Raises :class:`PackageError` when the document bytes do not have the hash/size the metadata declares.
    """
    doc = submission.document
    problems = []
    if doc.hash != hashlib.sha1(document).hexdigest():
        problems.append(Problem("the document's SHA-1 differs from the metadata hash", DOCUMENT_NAME, "hash"))
    if doc.size != len(document):
        problems.append(Problem(f"the document has {len(document)} bytes, the metadata says {doc.size}",
                                DOCUMENT_NAME, "size"))
    if problems:
        raise PackageError("the document does not match its metadata", problems)
    submission = dataclasses.replace(submission, document=dataclasses.replace(doc, uri=DOCUMENT_NAME))
    metadata = etree.tostring(ebrim.to_submit_objects_request(submission), xml_declaration=True,
                              encoding="UTF-8", pretty_print=True)
    entries = [(INDEX, _index(submission, rendition is not None)), (README, _readme(software, version, contact)),
               (METADATA, metadata), (f"{SUBSET}/{DOCUMENT_NAME}", document)]
    if rendition is not None:
        entries.append((RENDITION_NAME, rendition))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries:
            archive.writestr(_info(name), data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=6)
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------------ reading


def _unsafe_name(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "absolute or Windows path"
    if any(part in ("..", "") for part in name.rstrip("/").split("/")):
        return "path traversal or empty path segment"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link"
    if info.flag_bits & 0x1:
        return "encrypted entry"
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return f"unsupported compression method {info.compress_type}"
    return None


def _read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int) -> bytes:
    """Read at most the declared size (and the remaining budget): a lying header cannot inflate further."""
    limit = min(info.file_size, budget)
    with archive.open(info) as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise PackageError("the ZIP expands beyond its declared or allowed size",
                           [Problem("entry is larger than declared or than the size limit", info.filename)])
    return data


def _entries(data: bytes, max_total: int) -> dict[str, bytes]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as error:
        raise PackageError("not a ZIP archive", [Problem(str(error), "")]) from error
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        problems = []
        if len(infos) > _MAX_ENTRIES:
            problems.append(Problem(f"{len(infos)} entries, at most {_MAX_ENTRIES} accepted", ""))
        seen: set[str] = set()
        for info in infos:
            reason = _unsafe_name(info)
            if reason:
                problems.append(Problem(f"refused entry: {reason}", info.filename))
            if info.filename.upper() in seen:
                problems.append(Problem("duplicate entry name", info.filename))
            seen.add(info.filename.upper())
            if info.compress_size and info.file_size / info.compress_size > _MAX_RATIO and info.file_size > 1 << 20:
                problems.append(Problem(f"compression ratio above {_MAX_RATIO} (zip bomb?)", info.filename))
        declared = sum(i.file_size for i in infos)
        if declared > max_total:
            problems.append(Problem(f"the entries expand to {declared} bytes, at most {max_total} accepted", ""))
        if problems:
            raise PackageError("the XDM package is refused", problems)
        files: dict[str, bytes] = {}
        budget = max_total
        for info in infos:
            files[info.filename] = _read_entry(archive, info, budget)
            budget -= len(files[info.filename])
        return files


def _find(files: dict[str, bytes], name: str) -> str | None:
    return next((n for n in files if n.upper() == name.upper()), None)


def _metadata_names(files: dict[str, bytes]) -> list[str]:
    """``IHE_XDM/<subset>/METADATA.XML`` entries, whatever the subset folder is called and the case used."""
    return [n for n in files if n.upper().startswith("IHE_XDM/") and n.count("/") == 2
            and n.upper().endswith("/METADATA.XML")]


def read_package(data: bytes, *, max_total: int = _MAX_TOTAL) -> Package:
    """Unpack and check an XDM ZIP holding one submission set with one document."""
    files = _entries(data, max_total)
    problems = [Problem(f"{required} is missing", required) for required in (INDEX, README)
                if _find(files, required) is None]
    metadata_names = _metadata_names(files)
    subsets = {n.rsplit("/", 1)[0].upper() for n in files if n.upper().startswith("IHE_XDM/") and n.count("/") >= 2}
    if not metadata_names:
        problems.append(Problem(f"{METADATA} is missing", METADATA))
    elif len(subsets) > 1:
        problems.append(Problem(f"{len(subsets)} submission sets; one (SUBSET01) is supported", "IHE_XDM/"))
    if problems:
        raise PackageError("the XDM package is incomplete", problems)
    metadata_name = metadata_names[0]
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(files[metadata_name], parser)
        submission = ebrim.parse_submit_objects_request(root)
    except etree.XMLSyntaxError as error:
        raise PackageError("METADATA.XML is not well-formed", [Problem(str(error), metadata_name)]) from error
    except MetadataError as error:
        raise PackageError("METADATA.XML is not valid XDS metadata", error.problems) from error
    return _check_document(files, submission, metadata_name)


def _check_document(files: dict[str, bytes], submission: Submission, metadata_name: str) -> Package:
    doc = submission.document
    folder = metadata_name.rsplit("/", 1)[0]
    problems = []
    if not doc.uri:
        raise PackageError("METADATA.XML does not name the document file",
                           [Problem("the DocumentEntry has no URI slot", metadata_name, "URI")])
    if "/" in doc.uri or "\\" in doc.uri or doc.uri in ("..", "."):
        raise PackageError("METADATA.XML names a file outside its folder",
                           [Problem(f"URI {doc.uri!r} is not a file name", metadata_name, "URI")])
    name = _find(files, f"{folder}/{doc.uri}")
    if name is None:
        raise PackageError("a document named in METADATA.XML is missing",
                           [Problem(f"{folder}/{doc.uri} is not in the ZIP", metadata_name, "URI")])
    content = files[name]
    if hashlib.sha1(content).hexdigest() != doc.hash.lower():
        problems.append(Problem("the document's SHA-1 differs from METADATA.XML", name, "hash"))
    if len(content) != doc.size:
        problems.append(Problem(f"the document has {len(content)} bytes, METADATA.XML says {doc.size}", name,
                                "size"))
    undeclared = [n for n in files if n.upper().startswith(folder.upper() + "/") and n not in (name, metadata_name)]
    problems += [Problem("file not described in METADATA.XML", n) for n in undeclared]
    if problems:
        raise PackageError("the XDM package does not match its metadata", problems)
    return Package(submission, content, name, files)
