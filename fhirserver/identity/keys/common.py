"""What every identifier family shares: :class:`IdentifierError`, the canonical form of a raw value and the Luhn
key (ISO/IEC 7812-1 annex B)."""

from __future__ import annotations

import re
from typing import Literal

#: What is wrong with a value: not a string, wrong length, wrong characters or structure, wrong check key,
#: unknown prefix, or a combination the identifier system does not define (e.g. an INS-NIA in the test OID).
Problem = Literal["type", "length", "format", "key", "prefix", "unsupported"]


class IdentifierError(ValueError):
    """A national identifier is malformed or carries a wrong check key.

    ``kind`` names the identifier ("NIR", "NIA", "RPPS", "FINESS"...), ``problem`` classifies the failure (see
    :data:`Problem`, handy to pick an OperationOutcome issue code), ``value`` is the value received and
    ``expected`` the expected check key when ``problem == "key"``.
    """

    def __init__(
        self,
        kind: str,
        problem: Problem,
        message: str,
        *,
        value: object = None,
        expected: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.problem: Problem = problem
        self.value = value
        self.expected = expected


_SPACES = re.compile(r"[ \u00a0\u202f]")
_DIGITS = re.compile(r"[0-9]+")


def canonical(value: object, kind: str, *, opaque: bool = False) -> str:
    """Strip, drop inner spaces (incl. the French no-break spaces) and upper-case; refuse non-strings.

    ``opaque`` values (IDNPS, Struct_IdNat: possibly case-sensitive registry ids) are only stripped.
    """
    if not isinstance(value, str):
        raise IdentifierError(
            kind, "type", f"{kind}: expected a string, got {type(value).__name__}", value=value
        )
    compact = value.strip() if opaque else _SPACES.sub("", value.strip()).upper()
    if not compact:
        raise IdentifierError(kind, "length", f"{kind}: the value is empty", value=value)
    return compact


def fixed_digits(value: object, kind: str, length: int) -> str:
    """The canonical form of a number of exactly ``length`` ASCII digits (RPPS, SIREN, SIRET), else the
    ``length`` or ``format`` error naming ``kind``."""
    compact = canonical(value, kind)
    if len(compact) != length:
        raise IdentifierError(
            kind, "length", f"{kind} {compact}: expected {length} digits, got {len(compact)}", value=value
        )
    if not is_digits(compact):
        raise IdentifierError(kind, "format", f"{kind} {compact}: expected digits only", value=value)
    return compact


def is_digits(text: str) -> bool:
    """ASCII digits only (``str.isdigit`` also accepts superscripts and non-Latin digits)."""
    return _DIGITS.fullmatch(text) is not None


def luhn_check_digit(payload: str) -> int:
    """Luhn (ISO/IEC 7812-1 annex B) check digit to append to the ASCII digit string ``payload``."""
    if not is_digits(payload):
        raise ValueError(f"Luhn payload must be ASCII digits only: {payload!r}")
    total = 0
    # From the right, the first payload digit (next to the future check digit) is doubled.
    for position, char in enumerate(reversed(payload)):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10


def luhn_is_valid(number: str) -> bool:
    """True when ``number`` (ASCII digits, check digit last, at least 2 digits) passes the Luhn check."""
    if len(number) < 2 or not is_digits(number):
        return False
    return luhn_check_digit(number[:-1]) == int(number[-1])


def check_luhn(kind: str, value: str, raw: object, what: str = "") -> None:
    """Raise the ``key`` :class:`IdentifierError` of ``kind`` when the last digit of ``value`` is not its Luhn key."""
    expected = luhn_check_digit(value[:-1])
    if expected != int(value[-1]):
        raise IdentifierError(
            kind,
            "key",
            f"{kind} {value}: wrong check digit {value[-1]}{what}, expected {expected} (Luhn key)",
            value=raw,
            expected=str(expected),
        )


# A 2-character department (2 digits, or 2A / 2B for Corsica) then 7 digits: the ADELI and FINESS layout.
DEPARTMENT_PREFIX = re.compile(r"(?:[0-9]{2}|2A|2B)[0-9]{7}")
