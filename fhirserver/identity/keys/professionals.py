"""Professionals: RPPS (11 digits, Luhn key) and ADELI (format only) numbers (french-interop.md §2.3), and the
IDNPS built on them (PS_IdNat, french-interop.md §2.2: a type prefix + the number, read by
:func:`~fhirserver.identity.keys.prefixed.read_prefixed`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fhirserver.identity.keys.common import (
    DEPARTMENT_PREFIX,
    IdentifierError,
    canonical,
    check_luhn,
    fixed_digits,
)
from fhirserver.identity.keys.prefixed import PrefixScheme, read_prefixed


@dataclass(frozen=True, slots=True)
class Rpps:
    """A checked RPPS number (11 digits, Luhn key; FHIR system ``https://rpps.esante.gouv.fr``)."""

    value: str


def check_rpps(value: str) -> Rpps:
    """Check an RPPS number: 11 ASCII digits whose last one is a Luhn check digit (french-interop.md §2.3)."""
    compact = fixed_digits(value, "RPPS", 11)
    check_luhn("RPPS", compact, value)
    return Rpps(compact)


@dataclass(frozen=True, slots=True)
class Adeli:
    """An ADELI number checked for its format only.

    french-interop.md documents no ADELI check key (nor does any ANS file it cites), so the last character is
    not verified: ``key_verified`` is always False.
    """

    value: str
    department: str
    key_verified: bool = False


def check_adeli(value: str) -> Adeli:
    """Check the format of an ADELI number: 9 characters, a department prefix (2 digits other than ``00``, or
    ``2A``/``2B`` -- Corsica, unverified) then 7 digits. No check key is verified (none is documented)."""
    compact = canonical(value, "ADELI")
    if len(compact) != 9:
        raise IdentifierError(
            "ADELI", "length", f"ADELI {compact}: expected 9 characters, got {len(compact)}", value=value
        )
    if DEPARTMENT_PREFIX.fullmatch(compact) is None:
        raise IdentifierError(
            "ADELI",
            "format",
            f"ADELI {compact}: expected a 2-character department (digits, 2A or 2B) and 7 digits",
            value=value,
        )
    if compact.startswith("00"):
        raise IdentifierError(
            "ADELI", "format", f"ADELI {compact}: department 00 does not exist", value=value
        )
    return Adeli(compact, compact[:2])


IdNpsKind = Literal["ADELI", "cabinet ADELI", "FINESS", "SIREN", "SIRET", "cabinet RPPS", "RPPS"]
_IDNPS_PREFIXES: dict[str, IdNpsKind] = {
    "0": "ADELI",
    "1": "cabinet ADELI",
    "3": "FINESS",
    "4": "SIREN",
    "5": "SIRET",
    "6": "cabinet RPPS",
    "8": "RPPS",
}
_IDNPS = PrefixScheme[IdNpsKind]("IDNPS", _IDNPS_PREFIXES, {"RPPS": check_rpps, "ADELI": check_adeli})


@dataclass(frozen=True, slots=True)
class IdNps:
    """A checked IDNPS (PS_IdNat, system ``urn:oid:1.2.250.1.71.4.2.1``): prefix + number."""

    value: str
    prefix: str
    kind: IdNpsKind
    number: str


def check_idnps(value: str) -> IdNps:
    """Check an IDNPS: a known prefix (TRE_G08, french-interop.md §2.2) followed by the number.

    The IDNPS "ne doit être ni construit ni interprété", so only what the prefix guarantees is checked:

    * ``8`` + RPPS: 12 characters and a valid RPPS Luhn key (``801234567897``);
    * ``0`` + ADELI: the ADELI format (9 characters);
    * ``1``, ``3``, ``4``, ``5``, ``6`` ("/ registre"): opaque, any visible ASCII characters, case and all kept --
      registry ids such as
      ``3`` + FINESS + ``/`` + local id contain a ``/``, which the PSIdNat.fsh regex ``^(0|1|3|4|5|6|8)\\d*$``
      would refuse, so that regex is not enforced.
    """
    return IdNps(*read_prefixed(value, _IDNPS))


def idnps_from_rpps(rpps: str) -> str:
    """The IDNPS of a professional registered in the RPPS: ``8`` + RPPS (CI-SIS ``assignedAuthor/id``)."""
    return "8" + check_rpps(rpps).value


def idnps_from_adeli(adeli: str) -> str:
    """The IDNPS of a professional registered in ADELI only: ``0`` + ADELI."""
    return "0" + check_adeli(adeli).value
