"""IHE XDM ZIP: layout, deterministic bytes, round trip, and the packages a receiver must refuse."""

from __future__ import annotations

import dataclasses
import io
import stat
import zipfile
from functools import cache

import pytest
from lxml import etree

from mappings.xdm.package import METADATA, PackageError, build_package, read_package
from mappings.xds import ebrim
from mappings.xds.metadata import Submission, from_cda
from tests.conftest import ANS_EXAMPLES

N1 = ANS_EXAMPLES / "DOC_NON_STRUCTURE_CDA-R2-N1.xml"
DOCUMENT = "IHE_XDM/SUBSET01/DOC0001.XML"
PDF = b"%PDF-1.4\n% rendition\n"


@cache
def _cda() -> bytes:
    return N1.read_bytes()


@cache
def _submission() -> Submission:
    return from_cda(_cda(), submission_time="20260102030405", visibility=["INVISIBLE_PATIENT"])


@cache
def _package(rendition: bool = False) -> bytes:
    return build_package(_submission(), _cda(), rendition=PDF if rendition else None, contact="dpo@example.org")


def _rezip(entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def _entries(data: bytes) -> list[tuple[str | zipfile.ZipInfo, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(i.filename, archive.read(i)) for i in archive.infolist()]


def _refusal(data: bytes, **kwargs: int) -> list[str]:
    with pytest.raises(PackageError) as caught:
        read_package(data, **kwargs)
    return [f"{p.location}: {p.text}" for p in caught.value.problems]


def test_layout() -> None:
    """INDEX.HTM, README.TXT, METADATA.XML and the document, in that order; the rendition outside IHE_XDM."""
    with zipfile.ZipFile(io.BytesIO(_package(rendition=True))) as archive:
        assert archive.namelist() == ["INDEX.HTM", "README.TXT", METADATA, DOCUMENT, "DOC0001.PDF"]
        index = archive.read("INDEX.HTM").decode()
        assert 'href="IHE_XDM/SUBSET01/DOC0001.XML"' in index and 'href="DOC0001.PDF"' in index
        assert "dpo@example.org" in archive.read("README.TXT").decode()
        metadata = etree.fromstring(archive.read(METADATA))
    uri = metadata.findtext("rim:RegistryObjectList/rim:ExtrinsicObject/rim:Slot[@name='URI']/rim:ValueList/"
                            "rim:Value", namespaces=ebrim.NS)
    assert uri == "DOC0001.XML"


def test_same_input_same_bytes() -> None:
    """Building twice gives identical ZIP bytes (fixed order, dates, compression)."""
    again = build_package(_submission(), _cda(), contact="dpo@example.org")
    assert again == _package()


def test_round_trip() -> None:
    """Read back: the same document bytes and the same metadata (plus the URI)."""
    package = read_package(_package(rendition=True))
    assert package.document == _cda()
    assert package.document_name == DOCUMENT
    expected = dataclasses.replace(_submission(), replaced_unique_id=None,
                                   document=dataclasses.replace(_submission().document, uri="DOC0001.XML"))
    assert package.submission == expected
    assert package.files["DOC0001.PDF"] == PDF


def test_build_refuses_bytes_that_are_not_the_described_document() -> None:
    """The metadata's hash and size must be those of the bytes packed."""
    with pytest.raises(PackageError) as caught:
        build_package(_submission(), _cda() + b" ")
    assert [p.attribute for p in caught.value.problems] == ["hash", "size"]


def test_not_a_zip() -> None:
    """Random bytes are not a package."""
    with pytest.raises(PackageError, match="not a ZIP archive"):
        read_package(b"PK\x03\x04 this is not a zip")


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/passwd", "IHE_XDM/../../x", "C:/x", "a\\b"])
def test_unsafe_names_are_refused(name: str) -> None:
    """Absolute, Windows and traversal paths are refused before anything is read."""
    problems = _refusal(_rezip([*_entries(_package()), (name, b"x")]))
    assert problems and problems[0].startswith(f"{name}: refused entry")


def test_symbolic_link_is_refused() -> None:
    """A symlink entry is refused."""
    link = zipfile.ZipInfo("IHE_XDM/link")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    assert _refusal(_rezip([*_entries(_package()), (link, b"/etc/passwd")])) == [
        "IHE_XDM/link: refused entry: symbolic link"]


def test_duplicate_names_are_refused() -> None:
    """Two entries with the same name, exactly or up to case, are refused."""
    entries = _entries(_package())
    assert _refusal(_rezip([*entries, ("index.htm", b"<html/>")])) == ["index.htm: duplicate entry name"]
    with pytest.warns(UserWarning, match="Duplicate name"):
        data = _rezip([*entries, (DOCUMENT, b"<other/>")])
    assert _refusal(data) == [f"{DOCUMENT}: duplicate entry name"]


def test_zip_bomb_is_refused() -> None:
    """A highly compressed large entry and an archive expanding beyond the limit are refused."""
    bomb = _rezip([*_entries(_package()), ("BIG.BIN", bytes(8 << 20))])
    assert any("compression ratio" in p for p in _refusal(bomb))
    assert any("at most 1000 accepted" in p for p in _refusal(_package(), max_total=1000))


@pytest.mark.parametrize("missing", ["INDEX.HTM", "README.TXT", METADATA])
def test_required_files(missing: str) -> None:
    """INDEX.HTM, README.TXT and METADATA.XML are mandatory."""
    entries = [e for e in _entries(_package()) if e[0] != missing]
    assert _refusal(_rezip(entries)) == [f"{missing}: {missing} is missing"]


def test_missing_document() -> None:
    """The file named by the URI slot must be in the subset."""
    entries = [e for e in _entries(_package()) if e[0] != DOCUMENT]
    assert _refusal(_rezip(entries)) == [f"{METADATA}: {DOCUMENT} is not in the ZIP"]


def test_tampered_document() -> None:
    """A document whose bytes changed fails the hash (and the size) check."""
    entries = [(n, d.replace(b"PAT-TROIS", b"PAT-QUATRE", 1) if n == DOCUMENT else d) for n, d in _entries(_package())]
    problems = _refusal(_rezip(entries))
    assert problems == [f"{DOCUMENT}: the document's SHA-1 differs from METADATA.XML",
                        f"{DOCUMENT}: the document has {len(_cda()) + 1} bytes, METADATA.XML says {len(_cda())}"]


def test_undeclared_file_in_subset() -> None:
    """Every file of the subset must be described by METADATA.XML."""
    data = _rezip([*_entries(_package()), ("IHE_XDM/SUBSET01/EXTRA.XML", b"<x/>")])
    assert _refusal(data) == ["IHE_XDM/SUBSET01/EXTRA.XML: file not described in METADATA.XML"]


def test_second_subset_is_refused() -> None:
    """One submission set per package."""
    data = _rezip([*_entries(_package()), ("IHE_XDM/SUBSET02/METADATA.XML", b"<x/>")])
    assert _refusal(data) == ["IHE_XDM/: 2 submission sets; one (SUBSET01) is supported"]


def test_bad_metadata() -> None:
    """METADATA.XML must be well-formed XDS metadata; an external entity is not resolved."""
    entries = dict(_entries(_package()))
    entries[METADATA] = b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><x>&e;</x>"
    with pytest.raises(PackageError, match="not valid XDS metadata"):
        read_package(_rezip(list(entries.items())))
    entries[METADATA] = b"<unclosed>"
    with pytest.raises(PackageError, match="not well-formed"):
        read_package(_rezip(list(entries.items())))


def test_uri_outside_the_subset() -> None:
    """A URI slot naming a path (not a file of the subset) is refused."""
    entries = dict(_entries(_package()))
    entries[METADATA] = entries[METADATA].replace(b"<rim:Value>DOC0001.XML</rim:Value>",
                                                  b"<rim:Value>../../README.TXT</rim:Value>")
    assert _refusal(_rezip(list(entries.items()))) == [f"{METADATA}: URI '../../README.TXT' is not a file name"]


def test_other_subset_name_and_case_are_read() -> None:
    """A producer that writes ``ihe_xdm/subset1/metadata.xml`` and ``doc0001.xml`` is understood."""
    renamed = {"IHE_XDM/SUBSET01/METADATA.XML": "ihe_xdm/subset1/metadata.xml", DOCUMENT: "ihe_xdm/subset1/DOC0001.XML",
               "INDEX.HTM": "index.htm", "README.TXT": "readme.txt"}
    package = read_package(_rezip([(renamed.get(str(n), n), d) for n, d in _entries(_package())]))
    assert package.document == _cda() and package.document_name == "ihe_xdm/subset1/DOC0001.XML"
