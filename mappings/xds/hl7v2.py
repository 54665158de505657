"""HL7 v2.5 data types as XDS metadata encodes them (IHE ITI TF-3 §4.2.3.1.7 "Metadata attribute data types").

CX (patientId, sourcePatientId), XCN (authorPerson, legalAuthenticator), XON (authorInstitution), DTM (times,
always UTC). https://profiles.ihe.net/ITI/TF/Volume3/ch-4.2.html#4.2.3.1.7
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_ESCAPES = (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\"))


def escape(text: str) -> str:
    """Escape the HL7 v2 delimiters inside one component."""
    for raw, escaped in _ESCAPES:
        text = text.replace(raw, escaped)
    return text


def unescape(text: str) -> str:
    for raw, escaped in reversed(_ESCAPES):
        text = text.replace(escaped, raw)
    return text


def hd(oid: str) -> str:
    """Assigning authority (HD) with a universal id of type ISO: ``&oid&ISO``."""
    return f"&{oid}&ISO"


def cx(value: str, authority_oid: str, type_code: str = "") -> str:
    """CX: ``value^^^&oid&ISO[^type]`` (e.g. an INS: ``…^^^&1.2.250.1.213.1.4.8&ISO^NH``)."""
    out = f"{escape(value)}^^^{hd(authority_oid)}"
    return f"{out}^{type_code}" if type_code else out


def parse_cx(value: str) -> tuple[str, str, str]:
    """(id, assigning authority OID, identifier type code) of a CX value."""
    parts = value.split("^")
    ident = unescape(parts[0])
    authority = parts[3].split("&") if len(parts) > 3 else []
    oid = authority[1] if len(authority) > 1 else ""
    type_code = parts[4] if len(parts) > 4 else ""
    return ident, oid, type_code


def xcn(ident: str, root: str, family: str = "", given: str = "", type_code: str = "") -> str:
    """XCN: ``id^family^given^^^^^^&root&ISO^D^^^type`` (components 1, 2, 3, 9, 10, 13)."""
    fields = [escape(ident), escape(family), escape(given), "", "", "", "", "", hd(root) if root else "",
              "D" if family or given else "", "", "", type_code]
    return "^".join(fields).rstrip("^")


def xon(name: str, root: str, ident: str, type_code: str = "IDNST") -> str:
    """XON: ``name^^^^^&root&ISO^type^^^id`` (components 1, 6, 7, 10)."""
    return f"{escape(name)}^^^^^{hd(root)}^{type_code}^^^{escape(ident)}"


_TS = re.compile(r"^(\d{4,14})(?:\.\d+)?(?:([+-])(\d{2})(\d{2}))?$")


def dtm_utc(ts: str) -> str:
    """A CDA TS (``YYYYMMDDhhmmss[.f][±zzzz]``) as an XDS DTM in UTC, precision kept (fractions dropped).

    Values with an offset and at least the hour are shifted to UTC; a value without an offset is kept
    as given (the CDA says nothing better); a date-only value is kept whatever its offset.
    """
    match = _TS.match(ts.strip())
    if not match:
        raise ValueError(f"not an HL7 timestamp: {ts!r}")
    digits, sign, hh, mm = match.groups()
    if sign is None or len(digits) < 10:
        return digits
    padded = digits.ljust(14, "0")
    local = datetime.strptime(padded, "%Y%m%d%H%M%S")
    offset = timedelta(hours=int(hh), minutes=int(mm)) * (1 if sign == "+" else -1)
    utc = (local - offset).replace(tzinfo=UTC)
    return utc.strftime("%Y%m%d%H%M%S")[: len(digits)]


def dtm_now() -> str:
    return datetime.now(UTC).strftime("%Y%m%d%H%M%S")
