"""Value semantics of FHIR search: string normalisation, implicit ranges of dates and numbers.

https://hl7.org/fhir/R4/search.html#string (case- and accent-insensitive), #date (implicit precision ranges),
#number (implicit precision of the search value), #prefix.
All ranges here are half-open: ``[low, high)``.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

MIN_DT = datetime(1, 1, 1)
MAX_DT = datetime(9999, 12, 31, 23, 59, 59)
MAX_INDEX_LEN = 512

_DATE_RE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})(?:T(?P<H>\d{2})(?::(?P<M>\d{2})(?::(?P<S>\d{2})(?P<f>\.\d+)?)?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def normalize_string(value: str) -> str:
    """Lower-case, strip accents and collapse white space: ``Hélène  DUPONT`` -> ``helene dupont``."""
    decomposed = unicodedata.normalize("NFKD", value)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.casefold().split())[:MAX_INDEX_LEN]


def _add_months(dt: datetime, months: int) -> datetime:
    y, m = divmod(dt.month - 1 + months, 12)
    return dt.replace(year=dt.year + y, month=m + 1)


def date_range(text: str) -> tuple[datetime, datetime]:
    """The half-open UTC range covered by a FHIR date/dateTime/instant, given its precision.

    Times without a zone are taken as UTC (the server has no notion of the client's local zone).
    Raises ValueError for anything that is not a FHIR date.
    """
    m = _DATE_RE.match(text.strip())
    if not m:
        raise ValueError(f"not a valid FHIR date/dateTime: {text!r}")
    g = m.groupdict()
    year = int(g["y"])
    month = int(g["m"] or 1)
    day = int(g["d"] or 1)
    hour = int(g["H"] or 0)
    minute = int(g["M"] or 0)
    second = int(g["S"] or 0)
    micro = int(round(float(g["f"]) * 1_000_000)) if g["f"] else 0
    try:
        start = datetime(year, month, day, hour, minute, second, min(micro, 999_999))
    except ValueError as exc:
        raise ValueError(f"not a valid FHIR date/dateTime: {text!r}") from exc
    if g["tz"] and g["tz"] != "Z":
        sign = 1 if g["tz"][0] == "+" else -1
        hh, mm = int(g["tz"][1:3]), int(g["tz"][4:6])
        start = start - sign * timedelta(hours=hh, minutes=mm)
    if g["m"] is None:
        end = start.replace(year=start.year + 1) if year < 9999 else MAX_DT
    elif g["d"] is None:
        end = _add_months(start, 1) if (year, month) != (9999, 12) else MAX_DT
    elif g["H"] is None:
        end = start + timedelta(days=1) if start < datetime(9999, 12, 31) else MAX_DT
    elif g["M"] is None:
        end = start + timedelta(hours=1)
    elif g["S"] is None:
        end = start + timedelta(minutes=1)
    elif g["f"] is None:
        end = start + timedelta(seconds=1)
    else:
        digits = len(g["f"]) - 1
        end = start + timedelta(microseconds=max(1, 10 ** max(0, 6 - digits)))
    return start, end


def number_range(text: str) -> tuple[Decimal, Decimal, Decimal]:
    """(value, low, high) of a search number with its implicit precision: ``100`` -> [99.5, 100.5).

    Exponent forms give their own precision (``1e2`` -> [50, 150)).
    """
    try:
        value = Decimal(text.strip())
    except InvalidOperation as exc:
        raise ValueError(f"not a valid number: {text!r}") from exc
    if not value.is_finite():
        raise ValueError(f"not a valid number: {text!r}")
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    half = Decimal(5).scaleb(exponent - 1)
    return value, value - half, value + half


def now_utc() -> datetime:
    """The current instant, naive UTC (the form stored in the index tables)."""
    return datetime.now(UTC).replace(tzinfo=None)


def instant_text(dt: datetime) -> str:
    """FHIR ``instant`` text for a naive UTC datetime (millisecond precision, ``Z``)."""
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
