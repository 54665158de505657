"""External OpenID providers: the ``[[provider]]`` tables of ``config/identity_providers.toml`` and their discovery
documents and JWKS (fetched on first use, the JWKS fetched again once when an unknown ``kid`` shows up).

OpenID Connect Discovery 1.0 (https://openid.net/specs/openid-connect-discovery-1_0.html). Pro Santé Connect
publishes its configuration at ``.../.well-known/wallet-openid-configuration`` (french-interop.md §8.1): the URL is
read from the file, never derived.
"""

from __future__ import annotations

import os
import re
import threading
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from joserfc.jwk import KeySet

from fhirserver.settings import Settings, SettingsError

KINDS = ("psc", "franceconnect")
AUTH_METHODS = ("client_secret_basic", "client_secret_post")
ACR_LEVELS = ("eidas1", "eidas2", "eidas3")
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
TIMEOUT = 10


class ProviderError(RuntimeError):
    """The provider cannot be used (discovery or JWKS unreachable or malformed)."""


@dataclass
class Provider:
    name: str
    kind: str
    label: str
    discovery_url: str
    client_id: str
    client_secret: str = field(repr=False)
    token_endpoint_auth_method: str
    scope: str
    acr_values: str
    userinfo_decryption_key_file: str = ""
    _metadata: dict[str, Any] | None = field(default=None, repr=False)
    _jwks: KeySet | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def metadata(self) -> dict[str, Any]:
        with self._lock:
            if self._metadata is None:
                data = _get_json(self.discovery_url)
                for key in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"):
                    if not isinstance(data.get(key), str) or not data[key]:
                        raise ProviderError(f"provider {self.name}: discovery document without {key}")
                self._metadata = data
            return self._metadata

    def jwks(self, refresh: bool = False) -> KeySet:
        """The provider's keys; ``refresh`` fetches them again (one retry on an unknown ``kid``)."""
        uri = str(self.metadata()["jwks_uri"])
        with self._lock:
            if self._jwks is None or refresh:
                try:
                    self._jwks = KeySet.import_key_set(_get_json(uri))  # type: ignore[arg-type]
                except ValueError as exc:
                    raise ProviderError(f"provider {self.name}: malformed JWKS") from exc
            return self._jwks


def _get_json(url: str) -> dict[str, Any]:
    try:
        resp = requests.get(url, timeout=TIMEOUT, headers={"Accept": "application/json"})
        resp.raise_for_status()
        data = resp.json()
    except (requests.RequestException, ValueError) as exc:
        raise ProviderError(f"cannot read {url}: {exc.__class__.__name__}") from exc
    if not isinstance(data, dict):
        raise ProviderError(f"{url}: a JSON object was expected")
    return data


def providers_path(settings: Settings) -> Path:
    path = Path(settings.auth.identity_providers_file)
    return path if path.is_absolute() else settings.config_dir / path


def load_providers(settings: Settings, environ: Mapping[str, str] | None = None) -> dict[str, Provider]:
    """The enabled providers of the configuration file, by name; :class:`SettingsError` on any mistake (an
    enabled provider whose secret variable is unset stops the server at start)."""
    path = providers_path(settings)
    if not settings.auth.identity_providers_file or not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"identity providers file {path}: {exc}") from exc
    env = os.environ if environ is None else environ
    out: dict[str, Provider] = {}
    for entry in data.get("provider", []):
        provider = _provider(entry, env, path)
        if provider is not None:
            if provider.name in out:
                raise SettingsError(f"{path}: provider {provider.name!r} defined twice")
            out[provider.name] = provider
    return out


def _provider(entry: dict[str, Any], env: Mapping[str, str], path: Path) -> Provider | None:
    name = str(entry.get("name", ""))
    where = f"{path}: provider {name!r}"
    if not NAME.match(name):
        raise SettingsError(f"{where}: name must be lower-case letters, digits and '-'")
    if not entry.get("enabled", False):
        return None
    kind = str(entry.get("kind", ""))
    if kind not in KINDS:
        raise SettingsError(f"{where}: kind must be one of {', '.join(KINDS)}")
    method = str(entry.get("token_endpoint_auth_method", "client_secret_basic"))
    if method not in AUTH_METHODS:
        raise SettingsError(f"{where}: token_endpoint_auth_method must be one of {', '.join(AUTH_METHODS)}")
    acr = str(entry.get("acr_values", "eidas1"))
    if acr not in ACR_LEVELS:
        raise SettingsError(f"{where}: acr_values must be one of {', '.join(ACR_LEVELS)}")
    for key in ("discovery_url", "client_id", "client_secret_env", "label"):
        if not str(entry.get(key, "")).strip():
            raise SettingsError(f"{where}: {key} is required when the provider is enabled")
    secret_env = str(entry["client_secret_env"])
    secret = env.get(secret_env, "")
    if not secret:
        raise SettingsError(f"{where} is enabled but the environment variable {secret_env} (its client secret) "
                            "is not set")
    scope = str(entry.get("scope", "openid"))
    if "openid" not in scope.split():
        raise SettingsError(f"{where}: scope must contain openid")
    key_file = str(entry.get("userinfo_decryption_key_file", ""))
    if key_file and not Path(key_file).is_file():
        raise SettingsError(f"{where}: userinfo_decryption_key_file {key_file} not found")
    return Provider(name=name, kind=kind, label=str(entry["label"]), discovery_url=str(entry["discovery_url"]),
                    client_id=str(entry["client_id"]), client_secret=secret, token_endpoint_auth_method=method,
                    scope=scope, acr_values=acr, userinfo_decryption_key_file=key_file)
