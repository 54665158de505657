"""``dui cda validate FILE...`` — check CDA documents with the ANS kit (XSD + schematrons).

Exit status 0 only when every file is valid; 1 when one is not (each failed assertion is listed with its
location); 2 when the kit is not configured or a file cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mappings.cda.validate import SCHEMATRONS, CdaValidator, KitError, Report


def register(sub: Any) -> None:
    cda = sub.add_parser("cda", help="CDA R2 documents (CI-SIS)")
    cda_sub = cda.add_subparsers(dest="cda_command", required=True)
    val = cda_sub.add_parser("validate", help="validate CDA files with the ANS kit (XSD + schematrons)")
    val.add_argument("files", nargs="+", metavar="FILE")
    val.add_argument("--kit-dir", default=None,
                     help="the kit's testcontenucda folder (default: [cda] kit_dir / DUI_CDA_KIT_DIR)")
    val.add_argument("--schematron", action="append", choices=sorted(SCHEMATRONS), default=None,
                     help="rule set to run (repeatable; default: structuration-minimale + the document's volets)")
    val.add_argument("--json", action="store_true", help="print one JSON report per file")
    val.set_defaults(func=cmd_cda_validate)


def _print(path: str, report: Report, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"file": path, "valid": report.valid, "schematrons": list(report.schematrons),
                          "errors": [f.__dict__ for f in report.failures],
                          "warnings": [f.__dict__ for f in report.warnings]}, ensure_ascii=False))
        return
    print(f"{path}: {report.summary()}")
    for f in report.failures:
        print(f"  ERROR   [{f.source}] {f.message}" + (f"\n          at {f.location}" if f.location else ""))
    for f in report.warnings:
        print(f"  WARNING [{f.source}] {f.message}" + (f"\n          at {f.location}" if f.location else ""))


def cmd_cda_validate(args: argparse.Namespace) -> int:
    from fhirserver.cli import _settings

    settings = _settings(args)
    kit = args.kit_dir or settings.cda.kit_dir
    if not kit:
        print("no ANS CDA kit configured: pass --kit-dir or set [cda] kit_dir (DUI_CDA_KIT_DIR)", file=sys.stderr)
        return 2
    try:
        validator = CdaValidator(Path(kit), Path(settings.cda.cache_dir))
    except KitError as exc:
        print(f"ANS kit: {exc}", file=sys.stderr)
        return 2
    status = 0
    for path in args.files:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            print(f"{path}: cannot be read ({exc.strerror})", file=sys.stderr)
            return 2
        try:
            report = validator.validate(data, args.schematron)
        except KitError as exc:
            print(f"ANS kit: {exc}", file=sys.stderr)
            return 2
        _print(path, report, args.json)
        if not report.valid:
            status = 1
    return status
