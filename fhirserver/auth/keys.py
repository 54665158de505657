"""The server's signing key (RS256 access tokens and OpenID id_tokens) and its public JWKS (RFC 7517).

From ``[auth] signing_key_file`` (a PEM RSA private key) when configured; otherwise one key generated at first
use and kept in ``auth_key`` so every worker process of the server signs with the same key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from fhirserver.auth.schema import auth_key

ALGORITHM = "RS256"


def _with_kid(pem: bytes | str) -> RSAKey:
    key = RSAKey.import_key(pem)
    return RSAKey.import_key(pem, parameters={"kid": key.thumbprint(), "use": "sig", "alg": ALGORITHM})


def load_signing_key(engine: Engine, key_file: str = "") -> RSAKey:
    """The signing key: the configured file, else the stored one (generated and stored on first use)."""
    if key_file:
        return _with_kid(Path(key_file).read_bytes())
    with engine.connect() as conn:
        row = conn.execute(select(auth_key.c.private_pem).where(auth_key.c.name == "default")).first()
    if row is not None:
        return _with_kid(row[0])
    generated = RSAKey.generate_key(2048, private=True)
    pem = generated.as_pem(private=True).decode("ascii")
    try:
        with engine.begin() as conn:
            conn.execute(insert(auth_key).values(name="default", kid=generated.thumbprint(), private_pem=pem,
                                                 created=datetime.now(UTC).replace(tzinfo=None)))
    except IntegrityError:
        return load_signing_key(engine)  # another process stored its key first: use that one
    return _with_kid(pem)


class SigningKey:
    """The signing key, loaded (or generated) on first use and then kept for the life of the app."""

    def __init__(self, engine: Engine, key_file: str = "") -> None:
        self.engine = engine
        self.key_file = key_file
        self._key: RSAKey | None = None

    def get(self) -> RSAKey:
        if self._key is None:
            self._key = load_signing_key(self.engine, self.key_file)
        return self._key


def public_jwks(key: RSAKey) -> dict[str, Any]:
    """The JWKS document: bare public keys with ``kid`` (https://www.rfc-editor.org/rfc/rfc7517#section-5)."""
    public = key.as_dict(private=False)
    return {"keys": [{**public, "kid": key.kid, "use": "sig", "alg": ALGORITHM}]}


def verification_keys(key: RSAKey) -> KeySet:
    return KeySet([RSAKey.import_key(public_jwks(key)["keys"][0])])
