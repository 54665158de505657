"""Typed settings: ``config/default.toml`` <- ``DUI_*`` environment variables <- explicit overrides.

A malformed value stops start-up with a message naming the setting (habit: configuration fails loudly).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONFIG_DIR = Path(os.environ.get("DUI_CONFIG_DIR", Path(__file__).resolve().parent.parent / "config"))


class SettingsError(RuntimeError):
    """A configuration value is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    auto_upgrade_sqlite: bool = True
    statement_timeout_ms: int = 30000
    pool_size: int = 10
    base_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 2
    default_count: int = 20
    max_count: int = 1000
    max_include_depth: int = 3
    max_includes: int = 1000
    max_or_values: int = 100
    extra_bundles: tuple[str, ...] = ()
    strict_profiles: bool = False
    profiles_dir: str = "profiles"
    ins_environment: str = "test"
    fr_core_version: str = "2.1"
    insi_client: str = "simulator"
    insi_url: str = ""
    cda_kit_dir: str = ""
    cda_cache_dir: str = "var/cda-cache"
    cda_software_name: str = "DUI server"
    dmp_transport: str = "soap"
    dmp_url: str = "http://127.0.0.1:8095"
    dmp_certificate_file: str = ""
    dmp_key_file: str = ""
    dmp_lps_id: str = ""
    dmp_lps_name: str = "DUI server"
    dmp_lps_version: str = "0.1.0"
    dmp_lps_homologation: str = ""
    dmp_timeout_seconds: int = 30
    worker_max_attempts: int = 8
    worker_backoff_seconds: int = 5
    worker_poll_seconds: int = 2
    mssante_sender: str = ""
    mssante_smtp_host: str = "127.0.0.1"
    mssante_smtp_port: int = 25
    mssante_smtp_starttls: bool = False
    mssante_smtp_username: str = ""
    mssante_smtp_timeout_seconds: int = 30
    mssante_inbox: str = "maildir"
    mssante_maildir: str = "var/mssante/inbox"
    mssante_imap_host: str = ""
    mssante_imap_port: int = 993
    mssante_imap_username: str = ""
    auth_required: bool = False
    auth_issuer: str = ""
    auth_signing_key_file: str = ""
    auth_code_ttl_seconds: int = 60
    auth_access_token_ttl_seconds: int = 3600
    auth_refresh_token_ttl_days: int = 90
    auth_local_accounts: bool = True
    auth_lockout_threshold: int = 5
    auth_lockout_minutes: int = 15
    auth_identity_providers_file: str = "identity_providers.toml"
    audit_enabled: bool = True
    audit_retention_days: int = 365
    config_dir: Path = field(default=CONFIG_DIR)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


_FIELDS: dict[str, tuple[str, str]] = {
    # setting -> (toml section, key)
    "database_url": ("database", "url"),
    "auto_upgrade_sqlite": ("database", "auto_upgrade_sqlite"),
    "statement_timeout_ms": ("database", "statement_timeout_ms"),
    "pool_size": ("database", "pool_size"),
    "base_url": ("server", "base_url"),
    "host": ("server", "host"),
    "port": ("server", "port"),
    "workers": ("server", "workers"),
    "default_count": ("search", "default_count"),
    "max_count": ("search", "max_count"),
    "max_include_depth": ("search", "max_include_depth"),
    "max_includes": ("search", "max_includes"),
    "max_or_values": ("search", "max_or_values"),
    "extra_bundles": ("search", "extra_bundles"),
    "strict_profiles": ("validation", "strict_profiles"),
    "profiles_dir": ("validation", "profiles_dir"),
    "ins_environment": ("identity", "ins_environment"),
    "fr_core_version": ("identity", "fr_core_version"),
    "insi_client": ("identity", "insi_client"),
    "insi_url": ("identity", "insi_url"),
    "cda_kit_dir": ("cda", "kit_dir"),
    "cda_cache_dir": ("cda", "cache_dir"),
    "cda_software_name": ("cda", "software_name"),
    "dmp_transport": ("dmp", "transport"),
    "dmp_url": ("dmp", "url"),
    "dmp_certificate_file": ("dmp", "certificate_file"),
    "dmp_key_file": ("dmp", "key_file"),
    "dmp_lps_id": ("dmp", "lps_id"),
    "dmp_lps_name": ("dmp", "lps_name"),
    "dmp_lps_version": ("dmp", "lps_version"),
    "dmp_lps_homologation": ("dmp", "lps_homologation"),
    "dmp_timeout_seconds": ("dmp", "timeout_seconds"),
    "worker_max_attempts": ("worker", "max_attempts"),
    "worker_backoff_seconds": ("worker", "backoff_seconds"),
    "worker_poll_seconds": ("worker", "poll_seconds"),
    "mssante_sender": ("mssante", "sender"),
    "mssante_smtp_host": ("mssante", "smtp_host"),
    "mssante_smtp_port": ("mssante", "smtp_port"),
    "mssante_smtp_starttls": ("mssante", "smtp_starttls"),
    "mssante_smtp_username": ("mssante", "smtp_username"),
    "mssante_smtp_timeout_seconds": ("mssante", "smtp_timeout_seconds"),
    "mssante_inbox": ("mssante", "inbox"),
    "mssante_maildir": ("mssante", "maildir"),
    "mssante_imap_host": ("mssante", "imap_host"),
    "mssante_imap_port": ("mssante", "imap_port"),
    "mssante_imap_username": ("mssante", "imap_username"),
    "auth_required": ("auth", "required"),
    "auth_issuer": ("auth", "issuer"),
    "auth_signing_key_file": ("auth", "signing_key_file"),
    "auth_code_ttl_seconds": ("auth", "code_ttl_seconds"),
    "auth_access_token_ttl_seconds": ("auth", "access_token_ttl_seconds"),
    "auth_refresh_token_ttl_days": ("auth", "refresh_token_ttl_days"),
    "auth_local_accounts": ("auth", "local_accounts"),
    "auth_lockout_threshold": ("auth", "lockout_threshold"),
    "auth_lockout_minutes": ("auth", "lockout_minutes"),
    "auth_identity_providers_file": ("auth", "identity_providers_file"),
    "audit_enabled": ("audit", "enabled"),
    "audit_retention_days": ("audit", "retention_days"),
}
#: settings restricted to a list of values: setting -> allowed values
_CHOICES: dict[str, tuple[str, ...]] = {
    "ins_environment": ("test", "production"),
    "fr_core_version": ("2.1", "2.2"),
    "insi_client": ("simulator", "soap"),
    "dmp_transport": ("soap", "pdsm"),
    "mssante_inbox": ("maildir", "imap"),
}


def _coerce(name: str, raw: Any, default: Any) -> Any:
    if isinstance(default, bool):
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"setting {name}: expected a boolean, got {raw!r}")
    if isinstance(default, int):
        try:
            return int(raw)
        except (TypeError, ValueError) as exc:
            raise SettingsError(f"setting {name}: expected an integer, got {raw!r}") from exc
    if isinstance(default, list | tuple):
        if isinstance(raw, str):
            return tuple(x.strip() for x in raw.split(",") if x.strip())
        return tuple(raw)
    return str(raw)


def load_settings(config_dir: Path | None = None, **overrides: Any) -> Settings:
    """Read defaults from TOML, then ``DUI_<SECTION>_<KEY>`` (and ``DUI_DATABASE_URL``), then ``overrides``."""
    cdir = Path(config_dir or CONFIG_DIR)
    path = cdir / "default.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SettingsError(f"configuration file not found: {path}") from exc
    values: dict[str, Any] = {}
    for name, (section, key) in _FIELDS.items():
        try:
            default = data[section][key]
        except KeyError as exc:
            raise SettingsError(f"setting [{section}] {key} missing from {path}") from exc
        env = os.environ.get(f"DUI_{section}_{key}".upper())
        raw = overrides.get(name, env if env is not None else default)
        if raw is None:
            raw = default
        values[name] = _coerce(name, raw, default)
        if name in _CHOICES and values[name] not in _CHOICES[name]:
            raise SettingsError(f"setting [{section}] {key}: {values[name]!r} is not one of "
                                f"{', '.join(_CHOICES[name])}")
    if values["audit_retention_days"] < 1:
        raise SettingsError("setting [audit] retention_days must be at least 1 (CNIL: 6 months to 1 year)")
    url_override = overrides.get("database_url") or os.environ.get("DUI_DATABASE_URL")
    if url_override:
        values["database_url"] = url_override
    return Settings(config_dir=cdir, **values)
