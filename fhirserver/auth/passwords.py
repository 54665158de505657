"""Password and client-secret hashing with argon2id (RFC 9106; OWASP ASVS 5.0 V11.4) via argon2-cffi.

Only hashes are stored; verification of an unknown account still spends one hash computation (no user
enumeration by timing, ASVS 6.3.8).
"""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher()  # argon2id with the library's RFC 9106 low-memory defaults
_DUMMY = _HASHER.hash(secrets.token_urlsafe(16))


def hash_secret(secret: str) -> str:
    return _HASHER.hash(secret)


def verify_secret(stored_hash: str | None, secret: str) -> bool:
    try:
        return _HASHER.verify(stored_hash or _DUMMY, secret) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def digest(value: str) -> str:
    """SHA-256 (hex) of a random high-entropy value (codes, refresh tokens, session ids): a lookup key that does not
    reveal the value itself if the table leaks."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)
