"""Small FHIR and date helpers of the demo data set: references, codings, Paris instants, French dates, addresses."""

from __future__ import annotations

import unicodedata
from datetime import date, timedelta
from typing import Any

from fhirserver.demo.data.places import Commune
from fhirserver.demo.systems import EXT_INSEE_CODE, TRE_R13_COMMUNE

Resource = dict[str, Any]


def ref(resource_type: str, resource_id: str, display: str | None = None) -> dict[str, str]:
    reference = {"reference": f"{resource_type}/{resource_id}"}
    if display:
        reference["display"] = display
    return reference


def coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    result = {"system": system, "code": code}
    if display:
        result["display"] = display
    return result


def cc(system: str, code: str, display: str | None = None, text: str | None = None) -> dict[str, Any]:
    """A CodeableConcept of one coding, with an optional ``text``."""
    concept: dict[str, Any] = {"coding": [coding(system, code, display)]}
    if text:
        concept["text"] = text
    return concept


def paris_offset(day: date) -> str:
    """UTC offset of Europe/Paris at daytime on ``day`` (EU rule: last Sundays of March and October)."""

    def last_sunday(year: int, month: int) -> date:
        last = date(year, month + 1, 1) - timedelta(days=1)
        return last - timedelta(days=(last.weekday() + 1) % 7)

    summer = last_sunday(day.year, 3) <= day < last_sunday(day.year, 10)
    return "+02:00" if summer else "+01:00"


def add_years(day: date, years: int) -> date:
    """``day`` shifted by ``years`` (29 February becomes 28 February in non-leap years)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def instant(day: date, hour: int = 9, minute: int = 0) -> str:
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}:00{paris_offset(day)}"


def ascii_slug(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(c for c in decomposed if c.isascii() and (c.isalnum() or c in " -'"))
    return "-".join(kept.lower().replace("'", " ").split())


def format_fr_date(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def postal_address(commune: Commune, lines: list[str], use: str = "home") -> dict[str, Any]:
    """A FR Core address in ``commune`` (its INSEE code in the fr-core-address-insee-code extension)."""
    return {
        "extension": [
            {"url": EXT_INSEE_CODE, "valueCoding": coding(TRE_R13_COMMUNE, commune.insee, commune.label)}
        ],
        "use": use,
        "type": "both",
        "text": f"{', '.join(lines)}, {commune.postal_code} {commune.name}",
        "line": lines,
        "city": commune.name,
        "postalCode": commune.postal_code,
        "country": "France",
    }
