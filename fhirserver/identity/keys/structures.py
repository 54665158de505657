"""Structures: FINESS, SIREN and SIRET numbers and their Luhn keys (french-interop.md §2.3), and the
Struct_IdNat built on them (french-interop.md §2.2: a type prefix + the number, read by
:func:`~fhirserver.identity.keys.prefixed.read_prefixed`).

SIRET La Poste exception: french-interop.md §2.3 and python-stdnum ``stdnum/fr/siret.py`` (head office
``35600000000048`` keeps the Luhn key).
"""

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
class Finess:
    """A checked FINESS number (EJ or ET: the value does not tell, the identifier type FINEJ / FINEG does).

    ``key_verified`` is False for Corsican numbers (``2A``/``2B`` prefix): no source gives how their Luhn key
    treats the letter, so only their format is checked.
    """

    value: str
    department: str
    key_verified: bool = True


def check_finess(value: str) -> Finess:
    """Check a FINESS number: 9 characters, a 2-character department prefix (2 digits other than ``00``, or
    ``2A``/``2B``), 7 digits, and a Luhn check digit computed on the first 8 (french-interop.md §2.3;
    ``750803447``, the EHPAD of the ANS DLU example, is valid)."""
    compact = canonical(value, "FINESS")
    if len(compact) != 9:
        raise IdentifierError(
            "FINESS", "length", f"FINESS {compact}: expected 9 characters, got {len(compact)}", value=value
        )
    if DEPARTMENT_PREFIX.fullmatch(compact) is None:
        raise IdentifierError(
            "FINESS",
            "format",
            f"FINESS {compact}: expected a 2-character department (digits, 2A or 2B) and 7 digits",
            value=value,
        )
    department = compact[:2]
    if department == "00":
        raise IdentifierError(
            "FINESS", "format", f"FINESS {compact}: department 00 does not exist", value=value
        )
    if department in ("2A", "2B"):
        return Finess(compact, department, key_verified=False)
    check_luhn("FINESS", compact, value)
    return Finess(compact, department)


@dataclass(frozen=True, slots=True)
class Siren:
    """A checked SIREN (9 digits, Luhn key; FHIR system ``https://sirene.fr``)."""

    value: str


def check_siren(value: str) -> Siren:
    """Check a SIREN: 9 ASCII digits with a Luhn check digit."""
    compact = fixed_digits(value, "SIREN", 9)
    check_luhn("SIREN", compact, value)
    return Siren(compact)


LA_POSTE_SIREN = "356000000"
LA_POSTE_HEAD_OFFICE_SIRET = "35600000000048"


@dataclass(frozen=True, slots=True)
class Siret:
    """A checked SIRET: ``siren`` (9 digits) + ``nic`` (5 digits, the last one the key)."""

    value: str
    siren: str
    nic: str
    la_poste: bool = False


def check_siret(value: str) -> Siret:
    """Check a SIRET: 14 ASCII digits, Luhn key, and a valid SIREN in the first 9 digits.

    La Poste exception (french-interop.md §2.3, python-stdnum): the establishments of SIREN ``356000000`` have
    a digit sum that is a multiple of 5 instead of a Luhn key, except the head office ``35600000000048``, which
    passes the Luhn check.
    """
    compact = fixed_digits(value, "SIRET", 14)
    siren, nic = compact[:9], compact[9:]
    if siren == LA_POSTE_SIREN and compact != LA_POSTE_HEAD_OFFICE_SIRET:
        if sum(int(char) for char in compact) % 5 != 0:
            raise IdentifierError(
                "SIRET",
                "key",
                f"SIRET {compact}: wrong key for a La Poste establishment (the sum of its digits must be a "
                "multiple of 5)",
                value=value,
            )
        return Siret(compact, siren, nic, la_poste=True)
    try:
        check_siren(siren)
    except IdentifierError as exc:
        raise IdentifierError(
            "SIRET",
            exc.problem,
            f"SIRET {compact}: its SIREN part is invalid: {exc}",
            value=value,
            expected=exc.expected,
        ) from exc
    check_luhn("SIRET", compact, value)
    return Siret(compact, siren, nic, la_poste=siren == LA_POSTE_SIREN)


StructIdNatKind = Literal["cabinet ADELI", "FINESS", "SIREN", "SIRET", "RPPS rang", "technical"]
_STRUCT_PREFIXES: dict[str, StructIdNatKind] = {
    "0": "cabinet ADELI",
    "1": "FINESS",
    "2": "SIREN",
    "3": "SIRET",
    "4": "RPPS rang",
}
_STRUCT_IDNAT = PrefixScheme[StructIdNatKind](
    "Struct_IdNat",
    _STRUCT_PREFIXES,
    {"FINESS": check_finess, "SIREN": check_siren, "SIRET": check_siret},
    fallback="technical",
)


@dataclass(frozen=True, slots=True)
class StructIdNat:
    """A checked Struct_IdNat (system ``urn:oid:1.2.250.1.71.4.2.2``): prefix + number.

    ``kind == "technical"`` when the value starts with none of the prefixes 0-4 (an ANS technical id);
    ``prefix`` is then empty and ``number`` the whole value.
    """

    value: str
    prefix: str
    kind: StructIdNatKind
    number: str


def check_struct_idnat(value: str) -> StructIdNat:
    """Check a Struct_IdNat (french-interop.md §2.2): ``1`` + FINESS, ``2`` + SIREN and ``3`` + SIRET are
    checked with their keys; ``0`` (cabinet ADELI) and ``4`` (RPPS rang) numbers and technical ids are opaque.

    Beware the prefix trap: ``3`` means SIRET here but FINESS in an IDNPS.
    """
    return StructIdNat(*read_prefixed(value, _STRUCT_IDNAT))


def struct_idnat_from_finess(finess: str) -> str:
    """The structure national id of an ESMS: ``1`` + FINESS (CDA ``representedOrganization/id``)."""
    return "1" + check_finess(finess).value


def struct_idnat_from_siret(siret: str) -> str:
    """The structure national id built from a SIRET: ``3`` + SIRET."""
    return "3" + check_siret(siret).value
