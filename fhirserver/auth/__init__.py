"""Authorization (the authorization issue): SMART App Launch 2.2 / Backend Services authorization server on
Authlib, local accounts, and the access policy every FHIR interaction goes through.
"""

from __future__ import annotations

from typing import Any


def init_app(app: Any, ctx: Any) -> None:
    """Attach the authorization server's routes and the bearer-token check to the Flask app."""
    return None
