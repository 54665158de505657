"""Safe ``next`` redirects: only a relative path of this server (no open redirect; ASVS 5.1.5, OWASP
Unvalidated Redirects and Forwards).

Accepted: ``/`` followed by printable ASCII without a backslash, not starting ``//`` (a network-path
reference: another host), no scheme, no authority, at most 2000 characters (the size kept for a pending
external login). Control characters and spaces are refused because browsers drop them (``/\\t/evil.example``
becomes ``//evil.example``). Anything else gives the default.
"""

from __future__ import annotations

from urllib.parse import urlsplit

DEFAULT_NEXT = "/auth/apps"
MAX_LENGTH = 2000


def safe_next(value: str | None, default: str = DEFAULT_NEXT) -> str:
    """``value`` when it is a same-origin relative path, else ``default``."""
    if not value or len(value) > MAX_LENGTH or not value.startswith("/") or value.startswith("//"):
        return default
    if "\\" in value or any(not 0x21 <= ord(ch) <= 0x7E for ch in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value
