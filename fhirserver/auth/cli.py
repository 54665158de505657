"""Sub-commands of ``dui`` for this package (added by :func:`register`)."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    """Add this package's sub-commands to the ``dui`` parser's sub-parsers."""
    return None
