"""Provider configuration: the shipped file, loud failures, the acr order."""

from __future__ import annotations

from pathlib import Path

import pytest

from fhirserver.auth.logins.providers import load_providers
from fhirserver.auth.logins.relying_party import acr_satisfies
from fhirserver.settings import SettingsError, load_settings

ENABLED = """
[[provider]]
name = "psc"
kind = "psc"
label = "Pro Santé Connect"
discovery_url = "https://auth.bas.psc.esante.gouv.fr/auth/realms/esante-wallet/.well-known/wallet-openid-configuration"
client_id = "dui"
client_secret_env = "TEST_UNSET_PSC_SECRET"
token_endpoint_auth_method = "client_secret_basic"
scope = "openid scope_all"
acr_values = "eidas1"
enabled = true
"""


def test_shipped_file_enables_nothing() -> None:
    """config/identity_providers.toml lists PSC and FranceConnect, both disabled: no provider is loaded."""
    text = (Path(__file__).resolve().parents[3] / "config" / "identity_providers.toml").read_text(encoding="utf-8")
    assert "wallet-openid-configuration" in text and "oidc.franceconnect.gouv.fr" in text
    assert load_providers(load_settings(), environ={}) == {}


def test_enabled_provider_without_secret_stops_startup(tmp_path: Path) -> None:
    """An enabled provider whose secret variable is unset raises a SettingsError naming the variable."""
    path = tmp_path / "p.toml"
    path.write_text(ENABLED, encoding="utf-8")
    with pytest.raises(SettingsError, match="TEST_UNSET_PSC_SECRET"):
        load_providers(load_settings(auth_identity_providers_file=str(path)), environ={})


def test_enabled_provider_with_secret_is_loaded(tmp_path: Path) -> None:
    """With its secret in the environment the provider is loaded with the configured discovery URL (not derived)."""
    path = tmp_path / "p.toml"
    path.write_text(ENABLED, encoding="utf-8")
    found = load_providers(load_settings(auth_identity_providers_file=str(path)),
                           environ={"TEST_UNSET_PSC_SECRET": "very-secret-value"})
    assert found["psc"].discovery_url.endswith("/.well-known/wallet-openid-configuration")
    assert found["psc"].client_secret == "very-secret-value" and "very-secret-value" not in repr(found["psc"])


@pytest.mark.parametrize("bad", ['kind = "saml"', 'acr_values = "eidas9"', 'token_endpoint_auth_method = "none"',
                                 'scope = "profile"'])
def test_invalid_entry_is_refused(tmp_path: Path, bad: str) -> None:
    """A wrong kind, acr level, client authentication method or a scope without openid is refused at start."""
    key = bad.split(" = ")[0]
    text = "\n".join(bad if line.startswith(key + " ") else line for line in ENABLED.splitlines())
    path = tmp_path / "p.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError):
        load_providers(load_settings(auth_identity_providers_file=str(path)), environ={"TEST_UNSET_PSC_SECRET": "s"})


@pytest.mark.parametrize(("returned", "requested", "ok"), [
    ("eidas1", "eidas1", True), ("eidas2", "eidas1", True), ("eidas3", "eidas2", True),
    ("eidas1", "eidas2", False), ("eidas2", "eidas3", False), (None, "eidas1", False), ("high", "eidas1", False)])
def test_acr_order(returned: str | None, requested: str, ok: bool) -> None:
    """eidas1 < eidas2 < eidas3; a missing or unknown acr never satisfies the request."""
    assert acr_satisfies(returned, requested) is ok
