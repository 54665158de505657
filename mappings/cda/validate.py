"""Validation of CDA R2 documents with the ANS test kit (TestContenuCDA): the ANS-extended CDA XSD and the ISO
Schematron rules of the CI-SIS ("structuration minimale" header rules and the volets' rules).

How the kit is run (its README, and french-interop.md §11): the ``.sch`` files are compiled to XSLT 2 in three
steps with the kit's ISO skeleton (``moteur/``: ``iso_dsdl_include.xsl`` -> ``iso_abstract_expand.xsl`` ->
``iso_svrl_for_xslt2.xsl``) and the compiled XSLT is applied to the document with Saxon (saxonche, XSLT 3.0
processor, no Java). Its SVRL output lists every ``failed-assert``; asserts whose ``role`` is ``warning`` or
``info`` are warnings, every other one is an error.

The kit is not shipped with the server (editors download it from the ANS): its location is configuration. The
compiled stylesheets must sit next to their ``.sch`` (the rules open value-set files by relative path), so the
kit's ``schematrons/`` and ``jeuxDeValeurs/`` folders are copied once into a cache folder keyed by a fingerprint of
their content, and compiled there under a file lock (several processes may start at once). Loading a compiled
stylesheet into Saxon costs seconds per schematron, so each process keeps its loaded executables; applying one
costs tens of milliseconds.

Pure: lxml, saxonche and the standard library only.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

CDA_NS = "urn:hl7-org:v3"
SVRL_NS = "http://purl.oclc.org/dsdl/svrl"
XSD = "infrastructure/cda/CDA_extended.xsd"

#: schematron name -> path inside the kit
SCHEMATRONS: dict[str, str] = {
    "structuration-minimale": "schematrons/profils/structurationMinimale/ASIP-STRUCT-MIN-StrucMin.sch",
    "DLU-EHPAD-DLU": "schematrons/CI-SIS_DLU-EHPAD-DLU_2022.01.sch",
    "DLU-EHPAD-FLUDT": "schematrons/CI-SIS_DLU-EHPAD-FLUDT_2022.01.sch",
    "DLU-EHPAD-FLUDR": "schematrons/CI-SIS_DLU-EHPAD-FLUDR_2022.01.sch",
    # the body rules every structured volet includes (sections and entries); run on demand, not by default
    "modeles-de-contenus": "schematrons/profils/CI-SIS_ModelesDeContenusCDA.sch",
    "modeles-ans": "schematrons/profils/CI-SIS_Modeles_ANS.sch",
    "ihe": "schematrons/profils/IHE.sch",
}
#: files the kit includes under another case than it ships them (the kit was written on Windows):
#: included name -> shipped name, both relative to the kit; the cache copy gets both
_CASE_ALIASES: dict[str, str] = {
    "schematrons/include/entrees/E_directiveAnticipee_int.sch": "schematrons/include/entrees/E_directiveanticipee_int.sch",
}
#: volet templateId (ClinicalDocument/templateId/@root) -> the volet's schematron
VOLET_TEMPLATES: dict[str, str] = {
    "1.2.250.1.213.1.1.1.22": "DLU-EHPAD-DLU",
    "1.2.250.1.213.1.1.1.23": "DLU-EHPAD-FLUDT",
    "1.2.250.1.213.1.1.1.24": "DLU-EHPAD-FLUDR",
}
#: the kit folders a compiled schematron needs beside it
_COPIED = ("schematrons", "jeuxDeValeurs")
_STEPS = ("iso_dsdl_include.xsl", "iso_abstract_expand.xsl", "iso_svrl_for_xslt2.xsl")
_WARNING_ROLES = frozenset({"warning", "warn", "info", "information"})


class KitError(RuntimeError):
    """The kit folder is missing, incomplete, or a schematron cannot be compiled."""


@dataclass(frozen=True)
class Failure:
    """One finding: an XSD error or a failed schematron assertion."""

    source: str  # "xsd" or the schematron's name (a key of SCHEMATRONS)
    message: str
    location: str = ""  # XPath of the node (schematron) or "line N" (XSD)
    test: str = ""  # the assertion's XPath test
    rule_id: str = ""  # the assertion's id, when it has one
    severity: str = "error"  # "error" or "warning"


@dataclass(frozen=True)
class Report:
    """The outcome of one validation: errors, warnings, and which rule sets ran."""

    failures: tuple[Failure, ...] = ()
    warnings: tuple[Failure, ...] = ()
    schematrons: tuple[str, ...] = ()
    fired_rules: int = 0

    @property
    def valid(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        state = "valid" if self.valid else f"{len(self.failures)} error(s)"
        ran = ", ".join(("xsd", *self.schematrons))
        return f"{state}, {len(self.warnings)} warning(s) [{ran}]"


def volet_schematrons(root: etree._Element) -> list[str]:
    """The volet schematrons that apply to a document, from its ``templateId``s (header rules excluded)."""
    names: list[str] = []
    for tid in root.iterfind(f"{{{CDA_NS}}}templateId"):
        name = VOLET_TEMPLATES.get(tid.get("root", ""))
        if name and name not in names:
            names.append(name)
    return names


def kit_fingerprint(kit_dir: Path) -> str:
    """A digest of every file the compiled schematrons depend on (content, not dates)."""
    digest = hashlib.sha256(repr(sorted(_CASE_ALIASES.items())).encode())  # the copy's layout is part of the key
    for folder in _COPIED:
        base = kit_dir / folder
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(kit_dir)).encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def _parse(document: bytes | str | etree._Element | etree._ElementTree) -> etree._Element:
    if isinstance(document, etree._ElementTree):
        return document.getroot()
    if isinstance(document, etree._Element):
        return document
    data = document.encode("utf-8") if isinstance(document, str) else document
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    return etree.fromstring(data, parser)


class CdaValidator:
    """XSD + schematron validation against one kit. Thread-safe: every Saxon call of a process is serialised
    (one processor per validator; SaxonC's thread model is not relied upon).

    >>> v = CdaValidator("../shared/ans/testcontenucda", "var/cda-cache")   # doctest: +SKIP
    >>> v.validate(open("doc.xml", "rb").read()).valid                        # doctest: +SKIP
    True
    """

    def __init__(self, kit_dir: str | Path, cache_dir: str | Path) -> None:
        self.kit_dir = Path(kit_dir).resolve()
        self.cache_dir = Path(cache_dir).resolve()
        if not (self.kit_dir / XSD).is_file():
            raise KitError(f"no CDA schema at {self.kit_dir / XSD}: is {self.kit_dir} the kit's testcontenucda folder?")
        for name, rel in SCHEMATRONS.items():
            if not (self.kit_dir / rel).is_file():
                raise KitError(f"the kit has no {name} schematron ({rel})")
        self._lock = threading.Lock()
        self._schema: etree.XMLSchema | None = None
        self._schema_lock = threading.Lock()
        self._compiled: dict[str, Any] = {}
        self._saxon_lock = threading.RLock()
        self._processor: Any = None
        self._work_dir: Path | None = None

    # --- XSD -------------------------------------------------------------------------------------

    def _xsd(self) -> etree.XMLSchema:
        with self._lock:
            if self._schema is None:
                self._schema = etree.XMLSchema(etree.parse(str(self.kit_dir / XSD)))
            return self._schema

    def check_schema(self, root: etree._Element) -> list[Failure]:
        schema = self._xsd()
        with self._schema_lock:
            schema.validate(root)
            errors = list(schema.error_log)
        return [Failure("xsd", e.message, f"line {e.line}" if e.line else (e.path or "")) for e in errors]

    # --- schematron ------------------------------------------------------------------------------

    def _saxon(self) -> Any:
        if self._processor is None:
            from saxonche import PySaxonProcessor

            self._processor = PySaxonProcessor(license=False)
        return self._processor

    def _prepared_kit(self) -> Path:
        """The cache copy of the kit's rule folders (created once per kit content, under a file lock)."""
        if self._work_dir is not None:
            return self._work_dir
        from filelock import FileLock

        self.cache_dir.mkdir(parents=True, exist_ok=True)
        work = self.cache_dir / f"kit-{kit_fingerprint(self.kit_dir)}"
        with FileLock(str(work) + ".lock"):
            if not (work / ".complete").exists():
                if work.exists():
                    shutil.rmtree(work)
                staging = work.with_name(work.name + f".tmp{os.getpid()}")
                if staging.exists():
                    shutil.rmtree(staging)
                for folder in _COPIED:
                    shutil.copytree(self.kit_dir / folder, staging / folder)
                for alias, shipped in _CASE_ALIASES.items():
                    if (staging / shipped).is_file() and not (staging / alias).exists():
                        shutil.copyfile(staging / shipped, staging / alias)
                for path in staging.rglob("*"):  # the kit may be read-only: the copy must not be
                    path.chmod(0o755 if path.is_dir() else 0o644)
                (staging / ".complete").write_text("copied\n")
                staging.rename(work)
        self._work_dir = work
        return work

    def compiled_path(self, name: str) -> Path:
        """The compiled XSLT of one schematron (compiled on first use, shared by every process)."""
        from filelock import FileLock

        work = self._prepared_kit()
        sch = work / SCHEMATRONS[name]
        target = sch.with_suffix(".xsl")
        with FileLock(str(target) + ".lock"), self._saxon_lock:
            if target.exists():
                return target
            xslt = self._saxon().new_xslt30_processor()
            engine = work / "schematrons" / "moteur"
            source = sch
            for i, step in enumerate(_STEPS):
                out = target if i == len(_STEPS) - 1 else sch.with_suffix(f".step{i}.sch")
                tmp = out.with_name(out.name + f".tmp{os.getpid()}")
                try:
                    executable = xslt.compile_stylesheet(stylesheet_file=str(engine / step))
                    executable.transform_to_file(source_file=str(source), output_file=str(tmp))
                except Exception as exc:  # saxonche raises PySaxonApiError
                    raise KitError(f"compiling the {name} schematron failed at {step}: {exc}") from exc
                tmp.rename(out)
                source = out
        return target

    def _executable(self, name: str) -> Any:
        with self._saxon_lock:
            if name not in self._compiled:
                path = self.compiled_path(name)
                xslt = self._saxon().new_xslt30_processor()
                try:
                    self._compiled[name] = xslt.compile_stylesheet(stylesheet_file=str(path))
                except Exception as exc:
                    raise KitError(f"loading the compiled {name} schematron failed: {exc}") from exc
            return self._compiled[name]

    def warm_up(self, names: Iterable[str] = ("structuration-minimale",)) -> None:
        """Compile and load schematrons ahead of the first document (a server may call it at start)."""
        for name in names:
            self._executable(name)

    def check_schematron(self, name: str, data: bytes) -> tuple[list[Failure], list[Failure], int]:
        if name not in SCHEMATRONS:
            raise KitError(f"unknown schematron {name!r} (known: {', '.join(SCHEMATRONS)})")
        with self._saxon_lock:
            executable = self._executable(name)
            node = self._saxon().parse_xml(xml_text=data.decode("utf-8"))
            svrl = executable.transform_to_string(xdm_node=node)
        return _read_svrl(name, svrl)

    # --- both ------------------------------------------------------------------------------------

    def validate(self, document: bytes | str | etree._Element | etree._ElementTree,
                 schematrons: Sequence[str] | None = None) -> Report:
        """XSD, then the given schematrons (default: structuration minimale + the document's volets)."""
        try:
            root = _parse(document)
        except etree.XMLSyntaxError as exc:
            return Report(failures=(Failure("xsd", f"not well-formed XML: {exc}", ""),))
        failures = self.check_schema(root)
        names = list(schematrons) if schematrons is not None else ["structuration-minimale", *volet_schematrons(root)]
        data = etree.tostring(root, encoding="UTF-8", xml_declaration=True)
        warnings: list[Failure] = []
        fired = 0
        for name in names:
            errs, warns, count = self.check_schematron(name, data)
            failures.extend(errs)
            warnings.extend(warns)
            fired += count
        return Report(tuple(failures), tuple(warnings), tuple(names), fired)


def _read_svrl(name: str, svrl: str | None) -> tuple[list[Failure], list[Failure], int]:
    if not svrl:
        raise KitError(f"the {name} schematron produced no report")
    root = etree.fromstring(svrl.encode("utf-8"))
    errors: list[Failure] = []
    warnings: list[Failure] = []
    for fa in root.iter(f"{{{SVRL_NS}}}failed-assert"):
        text = " ".join("".join(t.itertext()).split()) if (t := fa.find(f"{{{SVRL_NS}}}text")) is not None else ""
        role = (fa.get("role") or fa.get("flag") or "").lower()
        severity = "warning" if role in _WARNING_ROLES else "error"
        finding = Failure(name, text, fa.get("location", ""), fa.get("test", ""), fa.get("id", ""), severity)
        (warnings if severity == "warning" else errors).append(finding)
    fired = sum(1 for _ in root.iter(f"{{{SVRL_NS}}}fired-rule"))
    return errors, warnings, fired
