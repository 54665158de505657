"""Settings: config/default.toml is the one table of defaults, DUI_<SECTION>_<KEY> and keywords override it."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

import pytest

from fhirserver.settings import CONFIG_DIR, Settings, SettingsError, load_settings, setting_names


@pytest.fixture()
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No DUI_<SECTION>_<KEY> variable of the caller's shell leaks into a test."""
    for name in setting_names():
        monkeypatch.delenv(f"DUI_{name}".upper(), raising=False)
    return monkeypatch


def toml_defaults() -> dict[str, dict[str, Any]]:
    return tomllib.loads((CONFIG_DIR / "default.toml").read_text(encoding="utf-8"))


def sections(settings: Settings) -> dict[str, Any]:
    return {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings) if f.name != "config_dir"}


def copy_config(tmp_path: Path, text: str) -> Path:
    (tmp_path / "default.toml").write_text(text, encoding="utf-8")
    return tmp_path


def test_every_toml_key_is_a_field_and_every_field_a_toml_key(clean_env: pytest.MonkeyPatch) -> None:
    """The sections and keys of default.toml are exactly the sectioned dataclasses' fields."""
    data = toml_defaults()
    found = sections(load_settings())
    assert list(found) == list(data)
    for name, section in found.items():
        assert [f.name for f in dataclasses.fields(section)] == list(data[name]), name


def test_fresh_settings_are_the_toml_values(clean_env: pytest.MonkeyPatch) -> None:
    """Without environment or overrides, every setting is the value written in default.toml."""
    settings = load_settings()
    for name, table in toml_defaults().items():
        for key, value in table.items():
            expected = tuple(value) if isinstance(value, list) else value
            assert getattr(getattr(settings, name), key) == expected, f"[{name}] {key}"
    assert settings.config_dir == CONFIG_DIR


def test_auth_is_required_by_default(clean_env: pytest.MonkeyPatch) -> None:
    """The shipped default protects the API (no Python default can say otherwise)."""
    assert load_settings().auth.required is True


def test_portal_section_defaults(clean_env: pytest.MonkeyPatch) -> None:
    """[portal] gives the sessions' limits, which portals are served and the help line."""
    portal = load_settings().portal
    assert (portal.session_idle_minutes, portal.session_absolute_hours) == (30, 12)
    assert portal.usager_enabled and portal.pro_enabled and portal.support_contact == ""


def test_environment_overrides_are_coerced(clean_env: pytest.MonkeyPatch) -> None:
    """DUI_<SECTION>_<KEY> strings become the setting's type (integer, boolean, list, choice)."""
    clean_env.setenv("DUI_SEARCH_MAX_COUNT", "50")
    clean_env.setenv("DUI_AUTH_REQUIRED", "off")
    clean_env.setenv("DUI_SEARCH_EXTRA_BUNDLES", "a.json, b.json")
    clean_env.setenv("DUI_DMP_TRANSPORT", "pdsm")
    clean_env.setenv("DUI_DATABASE_URL", "sqlite://")
    settings = load_settings()
    assert settings.search.max_count == 50 and settings.auth.required is False
    assert settings.search.extra_bundles == ("a.json", "b.json")
    assert settings.dmp.transport == "pdsm" and settings.database.is_sqlite


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("DUI_SEARCH_MAX_COUNT", "many", r"\[search\] max_count \(DUI_SEARCH_MAX_COUNT\): expected an integer"),
    ("DUI_AUTH_REQUIRED", "maybe", r"\[auth\] required \(DUI_AUTH_REQUIRED\): expected a boolean"),
    ("DUI_IDENTITY_INS_ENVIRONMENT", "prod", r"\[identity\] ins_environment .*not one of test, production"),
    ("DUI_AUDIT_RETENTION_DAYS", "0", r"\[audit\] retention_days must be at least 1"),
    ("DUI_PORTAL_SESSION_IDLE_MINUTES", "0", r"\[portal\] session_idle_minutes must be at least 1"),
    ("DUI_DATABASE_URL", "", r"\[database\] url is empty"),
])
def test_a_malformed_value_stops_loading(clean_env: pytest.MonkeyPatch, variable: str, value: str,
                                         message: str) -> None:
    """A bad environment value raises a SettingsError naming the setting."""
    clean_env.setenv(variable, value)
    with pytest.raises(SettingsError, match=message):
        load_settings()


def test_keywords_win_over_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    """A <section>_<key> keyword beats DUI_<SECTION>_<KEY>; a keyword of None counts as not given."""
    clean_env.setenv("DUI_SERVER_PORT", "9000")
    assert load_settings(server_port="9100").server.port == 9100
    assert load_settings(server_port=None).server.port == 9000
    assert load_settings(database_url="sqlite://", auth_required=False).auth.required is False


def test_an_unknown_keyword_is_refused() -> None:
    """A keyword that names no setting (e.g. the old flat name insi_client) is a TypeError, not ignored."""
    with pytest.raises(TypeError, match="insi_client"):
        load_settings(insi_client="soap")
    with pytest.raises(TypeError, match="nosuch_key"):
        load_settings().with_overrides(nosuch_key=1)


def test_with_overrides_copies_coerces_and_checks(clean_env: pytest.MonkeyPatch) -> None:
    """with_overrides replaces the named settings only, with the same coercion and checks as loading."""
    settings = load_settings()
    changed = settings.with_overrides(worker_max_attempts="3", auth_local_accounts=False)
    assert (changed.worker.max_attempts, changed.auth.local_accounts) == (3, False)
    assert changed.worker.poll_seconds == settings.worker.poll_seconds and changed.database == settings.database
    assert settings == load_settings()  # the original is unchanged
    with pytest.raises(SettingsError, match="retention_days"):
        settings.with_overrides(audit_retention_days=0)


def test_a_toml_key_without_a_field_is_refused(tmp_path: Path) -> None:
    """A key of default.toml the settings do not know (a typo) stops loading."""
    text = (CONFIG_DIR / "default.toml").read_text(encoding="utf-8").replace("[worker]\n", "[worker]\nretries = 3\n")
    with pytest.raises(SettingsError, match=r"\[worker\] retries .* is not a known setting"):
        load_settings(copy_config(tmp_path, text))


def test_a_missing_toml_key_is_refused(tmp_path: Path) -> None:
    """A setting missing from default.toml stops loading (there is no default in Python)."""
    text = (CONFIG_DIR / "default.toml").read_text(encoding="utf-8").replace("poll_seconds = 2\n", "")
    with pytest.raises(SettingsError, match=r"\[worker\] poll_seconds missing from"):
        load_settings(copy_config(tmp_path, text))


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    """A configuration directory without default.toml stops loading."""
    with pytest.raises(SettingsError, match="configuration file not found"):
        load_settings(tmp_path)
