"""French formatting of dates and times for the pages (pure functions; the shell registers them as Jinja
filters).

- :func:`french_date`: ``7 décembre 2026``, ``1er mars 2027``; FHIR partial dates ``décembre 2026``, ``2026``;
- :func:`french_time`: ``14 h 05``; :func:`french_datetime`: ``7 décembre 2026 à 14 h 05``;
- :func:`time_ago`: ``à l'instant``, ``il y a 5 minutes``, ``il y a 2 heures``, ``hier``, ``il y a 3 jours``,
  ``il y a 2 mois``, ``il y a 1 an`` (and ``dans …`` / ``demain`` for the future);
- :func:`birth_date`: ``2 avril 1931 (95 ans)``.

Values are :class:`datetime.date`, :class:`datetime.datetime` or FHIR strings (``date``, ``dateTime``,
``instant``). Times are shown in Europe/Paris; a naive datetime is UTC (how the server stores its own times).
A value that cannot be read is shown as it is, never an error on a page.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")
_PARTIAL = re.compile(r"^(\d{4})(?:-(\d{2}))?$")


def _instant(value: Any) -> datetime | None:
    """``value`` as an aware datetime in Paris time, when it has a time of day."""
    moment: datetime
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and "T" in value:
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(PARIS)


def _day(value: Any) -> date | None:
    """The calendar day of ``value`` (in Paris time for instants)."""
    moment = _instant(value)
    if moment is not None:
        return moment.date()
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def french_date(value: Any) -> str:
    """``7 décembre 2026`` (``1er`` for the first day of a month); ``décembre 2026`` or ``2026`` for FHIR
    partial dates."""
    if value is None or value == "":
        return ""
    day = _day(value)
    if day is not None:
        number = "1er" if day.day == 1 else str(day.day)
        return f"{number} {MONTHS[day.month - 1]} {day.year}"
    partial = _PARTIAL.match(value.strip()) if isinstance(value, str) else None
    if partial is not None:
        year, month = partial.group(1), partial.group(2)
        if month is None:
            return year
        if 1 <= int(month) <= 12:
            return f"{MONTHS[int(month) - 1]} {year}"
    return str(value)


def french_time(value: Any) -> str:
    """``14 h 05`` (Paris time)."""
    moment = _instant(value)
    if moment is None:
        return "" if value is None else str(value)
    return f"{moment.hour} h {moment.minute:02d}"


def french_datetime(value: Any) -> str:
    """``7 décembre 2026 à 14 h 05`` (Paris time); a date alone is shown as a date."""
    moment = _instant(value)
    if moment is None:
        return french_date(value)
    return f"{french_date(moment)} à {french_time(moment)}"


def time_ago(value: Any, now: datetime | None = None) -> str:
    """How long ago ``value`` was, in words: ``il y a 3 jours`` (``dans 3 jours`` for the future)."""
    moment = _instant(value)
    day = _day(value)
    if day is None:
        return "" if value is None else str(value)
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    current = now.astimezone(PARIS)
    if moment is not None:
        seconds = (current - moment).total_seconds()
        if abs(seconds) < 60:
            return "à l'instant"
        if abs(seconds) < 3600:
            return _relative(_plural(int(abs(seconds) // 60), "minute", "minutes"), seconds > 0)
        if abs(seconds) < 86400:
            return _relative(_plural(int(abs(seconds) // 3600), "heure", "heures"), seconds > 0)
    days = (current.date() - day).days
    if days == 0:
        return "aujourd'hui"
    if abs(days) == 1:
        return "hier" if days > 0 else "demain"
    if abs(days) < 31:
        return _relative(_plural(abs(days), "jour", "jours"), days > 0)
    if abs(days) < 365:
        return _relative(f"{abs(days) // 30} mois", days > 0)
    return _relative(_plural(abs(days) // 365, "an", "ans"), days > 0)


def _relative(amount: str, past: bool) -> str:
    return f"il y a {amount}" if past else f"dans {amount}"


def age(born: date, today: date) -> int:
    """Completed years between ``born`` and ``today`` (a 29 February birthday counts on 1 March)."""
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def birth_date(value: Any, today: date | None = None) -> str:
    """``2 avril 1931 (95 ans)``; for a partial date the age is approximate (``1931 (environ 95 ans)``)."""
    shown = french_date(value)
    if not shown:
        return ""
    current = today or datetime.now(PARIS).date()
    day = _day(value)
    if day is not None:
        years = age(day, current)
        if years >= 1:
            return f"{shown} ({_plural(years, 'an', 'ans')})"
        months = (current.year - day.year) * 12 + current.month - day.month - (current.day < day.day)
        return f"{shown} ({months} mois)" if months >= 1 else f"{shown} (moins d'un mois)"
    partial = _PARTIAL.match(value.strip()) if isinstance(value, str) else None
    if partial is None:
        return shown
    year, month = int(partial.group(1)), int(partial.group(2) or 0)
    years = current.year - year - (1 if month and current.month < month else 0)
    return f"{shown} (environ {_plural(years, 'an', 'ans')})"


#: the Jinja filters: ``{{ resource.birthDate|birth_date }}``, ``{{ item.created|time_ago }}``
FILTERS = {"french_date": french_date, "french_time": french_time, "french_datetime": french_datetime,
           "time_ago": time_ago, "birth_date": birth_date}
