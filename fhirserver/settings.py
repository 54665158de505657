"""Typed settings, one frozen dataclass per section of ``config/default.toml``: ``settings.database.url``,
``settings.auth.required``, ``settings.search.max_count`` ...

``config/default.toml`` is the only table of defaults: the dataclasses below name each setting and its type,
never a default value, and :func:`load_settings` refuses a TOML key without a field or a field without a TOML key.
Later sources win: the TOML file, then ``DUI_<SECTION>_<KEY>`` environment variables, then keyword overrides named
``<section>_<key>`` (``load_settings(database_url="sqlite://", auth_required=True)``). A malformed value stops
start-up with a :class:`SettingsError` naming the setting (habit: configuration fails loudly).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

CONFIG_DIR = Path(os.environ.get("DUI_CONFIG_DIR", Path(__file__).resolve().parent.parent / "config"))


class SettingsError(RuntimeError):
    """A configuration value is missing or malformed."""


def _at_least(value: int, minimum: int, name: str, why: str = "") -> None:
    if value < minimum:
        raise SettingsError(f"setting {name} must be at least {minimum}{why}")


@dataclass(frozen=True)
class DatabaseSettings:
    """``[database]``: where the resources are stored."""

    url: str
    auto_upgrade_sqlite: bool
    statement_timeout_ms: int
    pool_size: int

    def __post_init__(self) -> None:
        if not self.url:
            raise SettingsError("setting [database] url is empty (DUI_DATABASE_URL, --database-url)")

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")


@dataclass(frozen=True)
class ServerSettings:
    """``[server]``: the public base URL and what ``dui serve`` binds."""

    base_url: str
    host: str
    port: int
    workers: int


@dataclass(frozen=True)
class SearchSettings:
    """``[search]``: paging and the limits of one search."""

    default_count: int
    max_count: int
    max_include_depth: int
    max_includes: int
    max_or_values: int
    extra_bundles: tuple[str, ...]


@dataclass(frozen=True)
class ValidationSettings:
    """``[validation]``: the profiles resources are checked against."""

    strict_profiles: bool
    profiles_dir: str


@dataclass(frozen=True)
class IdentitySettings:
    """``[identity]``: INS authorities, the FR Core version emitted, the INSi client."""

    ins_environment: Literal["test", "production"]
    fr_core_version: Literal["2.1", "2.2"]
    insi_client: Literal["simulator", "soap"]
    insi_url: str


@dataclass(frozen=True)
class CdaSettings:
    """``[cda]``: the ANS test kit that validates every CDA document."""

    kit_dir: str
    cache_dir: str
    software_name: str


@dataclass(frozen=True)
class DmpSettings:
    """``[dmp]``: transport, endpoint and the structure's certificate signing the VIHF."""

    transport: Literal["soap", "pdsm"]
    url: str
    certificate_file: str
    key_file: str
    lps_id: str
    lps_name: str
    lps_version: str
    lps_homologation: str
    timeout_seconds: int


@dataclass(frozen=True)
class WorkerSettings:
    """``[worker]``: attempts and backoff of the outbox deliveries."""

    max_attempts: int
    backoff_seconds: int
    poll_seconds: int


@dataclass(frozen=True)
class MssanteSettings:
    """``[mssante]``: the sender mailbox, SMTP and the inbox (passwords come from the environment only)."""

    sender: str
    smtp_host: str
    smtp_port: int
    smtp_starttls: bool
    smtp_username: str
    smtp_timeout_seconds: int
    inbox: Literal["maildir", "imap"]
    maildir: str
    imap_host: str
    imap_port: int
    imap_username: str


@dataclass(frozen=True)
class AuthSettings:
    """``[auth]``: the authorization server, its tokens and the logins."""

    required: bool
    issuer: str
    signing_key_file: str
    code_ttl_seconds: int
    access_token_ttl_seconds: int
    refresh_token_ttl_days: int
    local_accounts: bool
    lockout_threshold: int
    lockout_minutes: int
    identity_providers_file: str


@dataclass(frozen=True)
class AuditSettings:
    """``[audit]``: the AuditEvent trail and how long it is kept."""

    enabled: bool
    retention_days: int

    def __post_init__(self) -> None:
        _at_least(self.retention_days, 1, "[audit] retention_days", " (CNIL: 6 months to 1 year)")


@dataclass(frozen=True)
class PortalSettings:
    """``[portal]``: the usager and professional web portals (sessions, which portal is served, help line)."""

    session_idle_minutes: int
    session_absolute_hours: int
    usager_enabled: bool
    pro_enabled: bool
    support_contact: str

    def __post_init__(self) -> None:
        _at_least(self.session_idle_minutes, 1, "[portal] session_idle_minutes")
        _at_least(self.session_absolute_hours, 1, "[portal] session_absolute_hours")


@dataclass(frozen=True)
class Settings:
    """Every setting, by section of ``config/default.toml``; build it with :func:`load_settings`."""

    database: DatabaseSettings
    server: ServerSettings
    search: SearchSettings
    validation: ValidationSettings
    identity: IdentitySettings
    cda: CdaSettings
    dmp: DmpSettings
    worker: WorkerSettings
    mssante: MssanteSettings
    auth: AuthSettings
    audit: AuditSettings
    portal: PortalSettings
    #: the directory of default.toml; relative paths of other settings (profiles, bundles ...) start here
    config_dir: Path

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with some settings replaced, named like :func:`load_settings`'s keywords
        (``settings.with_overrides(auth_local_accounts=False)``), coerced and checked the same way."""
        changes: dict[str, dict[str, Any]] = {}
        for name, raw in overrides.items():
            section, key = _split(name)
            changes.setdefault(section, {})[key] = _coerce(section, key, raw, "override")
        return replace(self, **{s: replace(getattr(self, s), **c) for s, c in changes.items()})


#: section name -> its dataclass, in the order of Settings
_SECTIONS: dict[str, type[Any]] = {name: kind for name, kind in get_type_hints(Settings).items()
                                   if name != "config_dir"}
#: section name -> key -> type
_KINDS: dict[str, dict[str, Any]] = {name: get_type_hints(kind) for name, kind in _SECTIONS.items()}


def _split(name: str) -> tuple[str, str]:
    """``"auth_required"`` -> ``("auth", "required")`` (section names have no underscore)."""
    section, _, key = name.partition("_")
    if key not in _KINDS.get(section, {}):
        raise TypeError(f"unknown setting {name!r}: overrides are named <section>_<key>, e.g. auth_required "
                        "for [auth] required")
    return section, key


def _coerce(section: str, key: str, raw: Any, origin: str) -> Any:
    """``raw`` (a TOML value or an environment string) as the type of ``[section] key``."""
    kind = _KINDS[section][key]
    where = f"setting [{section}] {key} ({origin})"
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{where}: expected a boolean, got {raw!r}")
    if kind is int:
        try:
            if isinstance(raw, bool):
                raise TypeError("a boolean is not a number")
            return int(raw)
        except (TypeError, ValueError) as exc:
            raise SettingsError(f"{where}: expected an integer, got {raw!r}") from exc
    if get_origin(kind) is tuple:
        if isinstance(raw, str):
            return tuple(x.strip() for x in raw.split(",") if x.strip())
        if not isinstance(raw, list | tuple):
            raise SettingsError(f"{where}: expected a list, got {raw!r}")
        return tuple(str(x) for x in raw)
    if get_origin(kind) is Literal:
        choices = get_args(kind)
        if str(raw) not in choices:
            raise SettingsError(f"{where}: {str(raw)!r} is not one of {', '.join(choices)}")
        return str(raw)
    if kind is str:
        return str(raw)
    raise TypeError(f"{where}: unsupported setting type {kind!r}")  # a field added with a new type


def _read_toml(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SettingsError(f"configuration file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"configuration file {path}: {exc}") from exc
    for section in data:
        if section not in _SECTIONS:
            raise SettingsError(f"section [{section}] of {path} is not a known setting section")
    for section, kinds in _KINDS.items():
        table = data.get(section)
        if not isinstance(table, dict):
            raise SettingsError(f"section [{section}] missing from {path}")
        for key in table:
            if key not in kinds:
                raise SettingsError(f"setting [{section}] {key} of {path} is not a known setting")
        for key in kinds:
            if key not in table:
                raise SettingsError(f"setting [{section}] {key} missing from {path}")
    return data


def load_settings(config_dir: Path | None = None, **overrides: Any) -> Settings:
    """``default.toml`` of ``config_dir``, then ``DUI_<SECTION>_<KEY>``, then ``overrides`` named
    ``<section>_<key>`` (an override of None counts as not given)."""
    cdir = Path(config_dir or CONFIG_DIR)
    data = _read_toml(cdir / "default.toml")
    given = {_split(name): raw for name, raw in overrides.items() if raw is not None}
    sections: dict[str, Any] = {}
    for section, kinds in _KINDS.items():
        values: dict[str, Any] = {}
        for key in kinds:
            env_name = f"DUI_{section}_{key}".upper()
            if (section, key) in given:
                raw, origin = given[(section, key)], "override"
            elif env_name in os.environ:
                raw, origin = os.environ[env_name], env_name
            else:
                raw, origin = data[section][key], str(cdir / "default.toml")
            values[key] = _coerce(section, key, raw, origin)
        sections[section] = _SECTIONS[section](**values)
    return Settings(config_dir=cdir, **sections)


def setting_names() -> list[str]:
    """Every setting as ``<section>_<key>``: the override keywords (``DUI_`` + upper case: the variables)."""
    return [f"{section}_{key}" for section, kinds in _KINDS.items() for key in kinds]
