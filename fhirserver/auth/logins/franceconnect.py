"""FranceConnect-style claims (identité pivot: given_name, family_name, birthdate, gender, birthplace,
birthcountry) and the safety check against the invited record.

The traits are never used to find or bind a record (only an invitation binds), and never change it: a FranceConnect
identity does not upgrade an INS identity status (../shared/specs/french-interop.md §9, "identity
reconciliation"). They only refuse a binding they clearly contradict: another birth date (FranceConnect sends
``YYYY-01-01`` when day and month are unknown: then only the year is compared) or a family name matching none of
the record's names (accents, case, hyphens and spaces ignored).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

KEPT = ("given_name", "family_name", "birthdate", "gender", "birthplace", "birthcountry", "preferred_username")


def kept_claims(claims: dict[str, Any]) -> dict[str, Any]:
    return {k: claims[k] for k in KEPT if k in claims}


def _norm(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^A-Z]", "", plain.upper())


def _birth_contradicts(claimed: Any, recorded: Any) -> bool:
    if not isinstance(claimed, str) or not isinstance(recorded, str) or not claimed or not recorded:
        return False
    if claimed.endswith("-01-01"):
        return claimed[:4] != recorded[:4]
    return claimed[:10] != recorded[:10]


def _name_contradicts(claimed: Any, record: dict[str, Any]) -> bool:
    if not isinstance(claimed, str) or not _norm(claimed):
        return False
    families = {_norm(str(n.get("family") or "")) for n in record.get("name") or [] if isinstance(n, dict)}
    families.discard("")
    return bool(families) and _norm(claimed) not in families


def contradiction(claims: dict[str, Any], record: dict[str, Any]) -> str | None:
    """A short reason when the provider's traits clearly contradict the invited record, else None."""
    if _birth_contradicts(claims.get("birthdate"), record.get("birthDate")):
        return "birthdate differs from the invited record"
    if _name_contradicts(claims.get("family_name"), record):
        return "family name differs from the invited record"
    return None
