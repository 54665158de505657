"""The CDA validator the server uses: the ANS kit named by ``[cda] kit_dir`` (see :mod:`mappings.cda.validate`).

Without a kit the server has no validator (``None``) and every operation that would return or send a CDA
document answers 503: nothing unvalidated leaves the server.
"""

from __future__ import annotations

from pathlib import Path

from fhirserver.errors import Issue, Unavailable, Unprocessable
from fhirserver.settings import Settings, SettingsError
from mappings.cda.validate import CdaValidator, Failure, KitError, Report


def build_cda_validator(settings: Settings) -> CdaValidator | None:
    """The validator for ``settings.cda.kit_dir`` (nothing is compiled before the first document)."""
    if not settings.cda.kit_dir:
        return None
    try:
        return CdaValidator(Path(settings.cda.kit_dir), Path(settings.cda.cache_dir))
    except KitError as exc:
        raise SettingsError(f"setting [cda] kit_dir: {exc}") from exc


def require_validator(validator: CdaValidator | None) -> CdaValidator:
    """The validator, or a 503 naming the setting to fix."""
    if validator is None:
        raise Unavailable("CDA validation is unavailable: no ANS test kit is configured ([cda] kit_dir, "
                          "DUI_CDA_KIT_DIR); no document is produced or sent without it")
    return validator


def report_issues(report: Report) -> list[Issue]:
    """One OperationOutcome issue per failed assertion (errors first, then warnings). The location is a CDA
    XPath, not a FHIRPath, so it goes into the diagnostics rather than ``expression``."""
    def text(f: Failure) -> str:
        return f"[{f.source}] {f.message}" + (f" (at {f.location})" if f.location else "")

    issues = [Issue(text(f), severity="error", code="invalid") for f in report.failures]
    issues += [Issue(text(f), severity="warning", code="informational") for f in report.warnings]
    return issues


def ensure_valid(validator: CdaValidator | None, document: bytes, what: str = "the CDA document") -> Report:
    """Validate ``document`` (XSD + structuration minimale + its volets) or raise 422 listing every failure."""
    report = require_validator(validator).validate(document)
    if not report.valid:
        raise Unprocessable(f"{what} fails the ANS CDA checks: {report.summary()}", report_issues(report))
    return report
