"""The French formatting filters (fhirserver.web.formats)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from flask import Flask, render_template_string

from fhirserver.web.formats import birth_date, french_date, french_datetime, french_time, time_ago
from tests.web.conftest import Probe

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)  # 11 h 00 in Paris


def test_dates() -> None:
    """Dates in words, 1er for the first day, FHIR partial dates."""
    assert french_date("2026-12-07") == "7 décembre 2026"
    assert french_date(date(2027, 3, 1)) == "1er mars 2027"
    assert french_date("2026-08") == "août 2026" and french_date("1931") == "1931"
    assert french_date(None) == "" and french_date("pas une date") == "pas une date"


def test_times_are_paris_times() -> None:
    """Instants are shown in Europe/Paris (winter UTC+1, summer UTC+2); naive datetimes are UTC."""
    assert french_time("2026-12-07T13:05:00Z") == "14 h 05"
    assert french_time(datetime(2026, 7, 14, 20, 0)) == "22 h 00"
    assert french_datetime("2026-12-31T23:30:00+00:00") == "1er janvier 2027 à 0 h 30"
    assert french_datetime("2026-12-07") == "7 décembre 2026"


def test_time_ago() -> None:
    """Relative times in words, singular and plural."""
    assert time_ago(datetime(2026, 12, 7, 9, 59, 30, tzinfo=UTC), NOW) == "à l'instant"
    assert time_ago("2026-12-07T09:55:00Z", NOW) == "il y a 5 minutes"
    assert time_ago("2026-12-07T09:00:00Z", NOW) == "il y a 1 heure"
    assert time_ago("2026-12-06", NOW) == "hier"
    assert time_ago("2026-12-04", NOW) == "il y a 3 jours"
    assert time_ago("2026-10-01", NOW) == "il y a 2 mois"
    assert time_ago("2024-12-01", NOW) == "il y a 2 ans"
    assert time_ago("2026-12-10", NOW) == "dans 3 jours" and time_ago("2026-12-08", NOW) == "demain"


def test_birth_date_with_age() -> None:
    """A birth date and the completed years; a partial date gives an approximate age."""
    assert birth_date("1931-04-02", date(2026, 12, 7)) == "2 avril 1931 (95 ans)"
    assert birth_date("1931-12-08", date(2026, 12, 7)) == "8 décembre 1931 (94 ans)"
    assert birth_date("2026-10-01", date(2026, 12, 7)) == "1er octobre 2026 (2 mois)"
    assert birth_date("1931", date(2026, 12, 7)) == "1931 (environ 95 ans)"


def test_filters_in_templates(web_app: tuple[Flask, Probe]) -> None:
    """The functions are Jinja filters of the app."""
    with web_app[0].test_request_context("/"):
        out = render_template_string("{{ '2026-12-07'|french_date }} / {{ '1931-04-02'|birth_date }}")
    assert out.startswith("7 décembre 2026 / 2 avril 1931 (")
