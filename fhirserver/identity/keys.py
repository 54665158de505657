"""Formats and check keys of the French national identifiers (pure functions, no framework).

Every ``check_*`` function takes the raw value, returns a small frozen result whose ``value`` is the canonical
form (surrounding whitespace and inner spaces removed, letters upper-cased), or raises :class:`IdentifierError`
(a :class:`ValueError`) whose message names the identifier kind and what is wrong. Callers validating wire data
that must already be canonical compare ``result.value`` with the value they received.

Messages about a NIR / NIA never repeat the full number (it is sensitive personal data under the CNIL rules and
error messages end up in logs); the value stays available as ``IdentifierError.value``.

Sources (see also ``../shared/specs/french-interop.md`` §1.1, §2.1-§2.3, where every check key is marked
*unverified* by the ANS files):

* NIR / NIA layout: INSEE definition https://www.insee.fr/fr/metadonnees/definition/c1409 ; service-public.fr
  "Que signifie le numéro de sécurité sociale ?" https://www.service-public.fr/particuliers/vosdroits/F33078 ;
  the Assurance Maladie (CNAM) reference validator
  https://github.com/assurance-maladie-digital/nir-validation (``src/Constraints/NirValidator.php`` and
  ``UPGRADE-2.0.md`` at commit 5c91c979, 2024-10-14) ; python-stdnum ``stdnum/fr/nir.py``.
* NIA "constitué comme un NIR": circulaire DSS/SD4C n° 2012-213 du 1er juin 2012, as quoted by net-entreprises
  (https://formation-net-entreprises.fr/utilisation-dun-nir-dattente-nia-pour-le-pas/).
* Luhn: ISO/IEC 7812-1 annex B. SIRET La Poste exception: french-interop.md §2.3 and python-stdnum
  ``stdnum/fr/siret.py`` (head office ``35600000000048`` keeps the Luhn key).
* IDNPS / Struct_IdNat prefixes: french-interop.md §2.2 (``ansforge/interop-ig-portabilite`` PSIdNat.fsh,
  StructIdNat.fsh).
* INSEE COG codes: https://www.insee.fr/fr/information/5057840 (Code officiel géographique).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "Adeli",
    "Finess",
    "IdNps",
    "IdentifierError",
    "InseeCode",
    "Nir",
    "Problem",
    "Rpps",
    "Siren",
    "Siret",
    "StructIdNat",
    "check_adeli",
    "check_finess",
    "check_idnps",
    "check_insee_code",
    "check_nia",
    "check_nir",
    "check_rpps",
    "check_siren",
    "check_siret",
    "check_struct_idnat",
    "idnps_from_adeli",
    "idnps_from_rpps",
    "luhn_check_digit",
    "luhn_is_valid",
    "nir_key",
    "struct_idnat_from_finess",
    "struct_idnat_from_siret",
]

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


# ----------------------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------------------
_SPACES = re.compile(r"[ \u00a0\u202f]")
_DIGITS = re.compile(r"[0-9]+")


def _compact(value: object, kind: str, *, opaque: bool = False) -> str:
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


def _is_digits(text: str) -> bool:
    """ASCII digits only (``str.isdigit`` also accepts superscripts and non-Latin digits)."""
    return _DIGITS.fullmatch(text) is not None


def luhn_check_digit(payload: str) -> int:
    """Luhn (ISO/IEC 7812-1 annex B) check digit to append to the ASCII digit string ``payload``."""
    if not _is_digits(payload):
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
    if len(number) < 2 or not _is_digits(number):
        return False
    return luhn_check_digit(number[:-1]) == int(number[-1])


def _check_luhn(kind: str, value: str, raw: object, what: str = "") -> None:
    expected = luhn_check_digit(value[:-1])
    if expected != int(value[-1]):
        raise IdentifierError(
            kind,
            "key",
            f"{kind} {value}: wrong check digit {value[-1]}{what}, expected {expected} (Luhn key)",
            value=raw,
            expected=str(expected),
        )


# ----------------------------------------------------------------------------------------------------------
# NIR / NIA
# ----------------------------------------------------------------------------------------------------------
_NIR_13 = re.compile(r"[0-9]{5}(?:[0-9]{2}|2A|2B)[0-9]{6}")
_NIR_15 = re.compile(
    r"(?P<sex>[0-9])(?P<year>[0-9]{2})(?P<month>[0-9]{2})(?P<dept>[0-9]{2}|2A|2B)"
    r"(?P<place>[0-9]{3})(?P<order>[0-9]{3})(?P<key>[0-9]{2})"
)
_SEX = {"1": "male", "2": "female"}
_SEX_HINTS = {
    "5": " (5/6 denote an Assurance Maladie migrant number, MIG, which is not an INS matricule)",
    "6": " (5/6 denote an Assurance Maladie migrant number, MIG, which is not an INS matricule)",
    "7": " (7/8 denote a provisional NNP number, withdrawn since 2022, which is not an INS matricule)",
    "8": " (7/8 denote a provisional NNP number, withdrawn since 2022, which is not an INS matricule)",
}


def _nir_number(first13: str) -> int:
    """The 13 characters as a number, Corsica ``2A``/``2B`` (positions 6-7) read as 19/18."""
    department = first13[5:7]
    if department == "2A":
        first13 = first13[:5] + "19" + first13[7:]
    elif department == "2B":
        first13 = first13[:5] + "18" + first13[7:]
    return int(first13)


def nir_key(first13: str, *, kind: str = "NIR") -> int:
    """Check key (1..97) of the first 13 characters of a NIR or NIA: ``97 - (n mod 97)``.

    Corsica: department ``2A`` is replaced by ``19`` and ``2B`` by ``18`` before computing (INSEE rule, as
    implemented by the CNAM validator ``src/NirKey.php`` and python-stdnum). Spaces are ignored.
    """
    value = _compact(first13, kind)
    if len(value) != 13:
        raise IdentifierError(
            kind, "length", f"{kind}: the key is computed on 13 characters, got {len(value)}", value=first13
        )
    if _NIR_13.fullmatch(value) is None:
        raise IdentifierError(
            kind,
            "format",
            f"{kind}: the 13 characters must be digits, with 2A or 2B allowed only as the department "
            "(positions 6-7)",
            value=first13,
        )
    return 97 - _nir_number(value) % 97


@dataclass(frozen=True, slots=True)
class Nir:
    """A checked NIR (or NIA, same layout) split into its parts.

    ``department`` is 2 characters (``01``-``96``, ``2A``/``2B``, ``20`` for Corsica before 1976), 3 digits for
    births overseas (``971``-``989``) or ``99`` for births abroad; ``commune`` is then 3 digits, 2 digits
    overseas, or the 3-digit INSEE country code (so ``birthplace_code`` is the COG code ``99xxx`` of the
    country). ``birth_month`` is kept as written: ``01``-``12``, or ``20``-``99`` when the civil-status record
    gives no usable month.
    """

    value: str
    sex: Literal["male", "female"]
    birth_year: str
    birth_month: str
    department: str
    commune: str
    order: str
    key: int
    is_nia: bool = False

    @property
    def kind(self) -> Literal["NIR", "NIA"]:
        return "NIA" if self.is_nia else "NIR"

    @property
    def birth_month_number(self) -> int | None:
        """The calendar month 1-12, or None for the special "unknown month" values 20-99."""
        month = int(self.birth_month)
        return month if month <= 12 else None

    @property
    def born_abroad(self) -> bool:
        return self.department == "99"

    @property
    def birthplace_kind(self) -> Literal["metropolitan", "overseas", "abroad"]:
        """Where the birth was registered. Departments 91-96 may also be Algeria / Morocco / Tunisia before
        their independence (service-public.fr F33078): the NIR alone cannot tell, they count as metropolitan."""
        if self.born_abroad:
            return "abroad"
        if len(self.department) == 3:
            return "overseas"
        return "metropolitan"

    @property
    def birthplace_code(self) -> str:
        """Department + commune (5 characters): the COG code of the birth commune, or ``99xxx`` country code."""
        return self.department + self.commune


def check_nir(value: str, *, nia: bool = False) -> Nir:
    """Check a 15-character NIR (13 characters + 2-digit key) and split it; ``nia=True`` for an NIA.

    Rules (sources in the module docstring):

    * sex digit ``1`` (male) or ``2`` (female) -- the only values the CNAM validator and service-public.fr
      accept; ``7``/``8`` (provisional NNP) and ``5``/``6`` (MIG) are Assurance Maladie numbers, not INS
      matricules, and are refused with a hint;
    * birth month ``01``-``12``, or ``20``-``99`` for an unknown month (CNAM validator 2.0.0, "valeurs allant de
      20 à 99 lorsque le mois est inconnu"); ``00`` and ``13``-``19`` are refused;
    * department ``01``-``99`` or ``2A``/``2B`` (``00`` refused); ``97``/``98`` start a 3-digit overseas
      department followed by a 2-digit commune; ``99`` means born abroad, followed by the INSEE country code;
    * key = 97 - (13-character number mod 97), Corsica ``2A``/``2B`` read as 19/18, so always ``01``-``97``.

    An NIA has exactly the NIR layout (circulaire DSS 2012-213): nothing in the value tells them apart, the
    assigning authority (OID ``1.2.250.1.213.1.4.9``) does. Hence the ``nia`` flag, which only names the kind in
    messages and sets ``Nir.is_nia``.
    """
    kind = "NIA" if nia else "NIR"
    compact = _compact(value, kind)
    if len(compact) != 15:
        hint = " (the 2-digit key is missing)" if len(compact) == 13 else ""
        raise IdentifierError(
            kind,
            "length",
            f"{kind}: expected 15 characters (13 + 2-digit key), got {len(compact)}{hint}",
            value=value,
        )
    match = _NIR_15.fullmatch(compact)
    if match is None:
        raise IdentifierError(
            kind,
            "format",
            f"{kind}: expected digits only, with 2A or 2B allowed only as the department (positions 6-7)",
            value=value,
        )
    sex_digit = match["sex"]
    if sex_digit not in _SEX:
        raise IdentifierError(
            kind,
            "format",
            f"{kind}: sex digit {sex_digit} is invalid, expected 1 (male) or 2 (female)"
            + _SEX_HINTS.get(sex_digit, ""),
            value=value,
        )
    month = match["month"]
    if not (1 <= int(month) <= 12 or int(month) >= 20):
        raise IdentifierError(
            kind,
            "format",
            f"{kind}: birth month {month} is invalid, expected 01-12, or 20-99 when the month is unknown",
            value=value,
        )
    department, place = match["dept"], match["place"]
    if department == "00":
        raise IdentifierError(kind, "format", f"{kind}: department 00 does not exist", value=value)
    if department in ("97", "98"):
        department, commune = department + place[0], place[1:]
    else:
        commune = place
    expected = 97 - _nir_number(compact[:13]) % 97
    key = int(match["key"])
    if key != expected:
        raise IdentifierError(
            kind,
            "key",
            f"{kind}: wrong check key {match['key']}, expected {expected:02d} "
            "(97 - the first 13 characters mod 97, Corsica 2A/2B read as 19/18)",
            value=value,
            expected=f"{expected:02d}",
        )
    return Nir(
        value=compact,
        sex="male" if sex_digit == "1" else "female",
        birth_year=match["year"],
        birth_month=month,
        department=department,
        commune=commune,
        order=match["order"],
        key=key,
        is_nia=nia,
    )


def check_nia(value: str) -> Nir:
    """Check an NIA (numéro d'inscription d'attente): same layout and key as a NIR, see :func:`check_nir`."""
    return check_nir(value, nia=True)


# ----------------------------------------------------------------------------------------------------------
# Professionals: RPPS, ADELI, IDNPS
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Rpps:
    """A checked RPPS number (11 digits, Luhn key; FHIR system ``https://rpps.esante.gouv.fr``)."""

    value: str


def check_rpps(value: str) -> Rpps:
    """Check an RPPS number: 11 ASCII digits whose last one is a Luhn check digit (french-interop.md §2.3)."""
    compact = _compact(value, "RPPS")
    if len(compact) != 11:
        raise IdentifierError(
            "RPPS", "length", f"RPPS {compact}: expected 11 digits, got {len(compact)}", value=value
        )
    if not _is_digits(compact):
        raise IdentifierError("RPPS", "format", f"RPPS {compact}: expected digits only", value=value)
    _check_luhn("RPPS", compact, value)
    return Rpps(compact)


_DEPARTMENT_PREFIX = re.compile(r"(?:[0-9]{2}|2A|2B)[0-9]{7}")


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
    compact = _compact(value, "ADELI")
    if len(compact) != 9:
        raise IdentifierError(
            "ADELI", "length", f"ADELI {compact}: expected 9 characters, got {len(compact)}", value=value
        )
    if _DEPARTMENT_PREFIX.fullmatch(compact) is None:
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
_OPAQUE = re.compile(r"[!-~]+")  # visible ASCII, no whitespace


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
    compact = _compact(value, "IDNPS", opaque=True)
    if _OPAQUE.fullmatch(compact) is None:
        raise IdentifierError(
            "IDNPS", "format", f"IDNPS {compact}: only visible ASCII characters are allowed", value=value
        )
    prefix, number = compact[0], compact[1:]
    kind = _IDNPS_PREFIXES.get(prefix)
    if kind is None:
        raise IdentifierError(
            "IDNPS",
            "prefix",
            f"IDNPS {compact}: unknown prefix {prefix}, expected 0 (ADELI), 1 (cabinet ADELI), 3 (FINESS), "
            "4 (SIREN), 5 (SIRET), 6 (cabinet RPPS) or 8 (RPPS)",
            value=value,
        )
    if not number:
        raise IdentifierError(
            "IDNPS", "length", f"IDNPS {compact}: the number after prefix {prefix} is missing", value=value
        )
    try:
        if kind == "RPPS":
            number = check_rpps(number).value
        elif kind == "ADELI":
            number = check_adeli(number).value
    except IdentifierError as exc:
        raise IdentifierError(
            "IDNPS",
            exc.problem,
            f"IDNPS {compact} (prefix {prefix} = {kind}): {exc}",
            value=value,
            expected=exc.expected,
        ) from exc
    return IdNps(prefix + number, prefix, kind, number)


def idnps_from_rpps(rpps: str) -> str:
    """The IDNPS of a professional registered in the RPPS: ``8`` + RPPS (CI-SIS ``assignedAuthor/id``)."""
    return "8" + check_rpps(rpps).value


def idnps_from_adeli(adeli: str) -> str:
    """The IDNPS of a professional registered in ADELI only: ``0`` + ADELI."""
    return "0" + check_adeli(adeli).value


# ----------------------------------------------------------------------------------------------------------
# Structures: FINESS, SIREN, SIRET, Struct_IdNat
# ----------------------------------------------------------------------------------------------------------
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
    compact = _compact(value, "FINESS")
    if len(compact) != 9:
        raise IdentifierError(
            "FINESS", "length", f"FINESS {compact}: expected 9 characters, got {len(compact)}", value=value
        )
    if _DEPARTMENT_PREFIX.fullmatch(compact) is None:
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
    _check_luhn("FINESS", compact, value)
    return Finess(compact, department)


@dataclass(frozen=True, slots=True)
class Siren:
    """A checked SIREN (9 digits, Luhn key; FHIR system ``https://sirene.fr``)."""

    value: str


def check_siren(value: str) -> Siren:
    """Check a SIREN: 9 ASCII digits with a Luhn check digit."""
    compact = _compact(value, "SIREN")
    if len(compact) != 9:
        raise IdentifierError(
            "SIREN", "length", f"SIREN {compact}: expected 9 digits, got {len(compact)}", value=value
        )
    if not _is_digits(compact):
        raise IdentifierError("SIREN", "format", f"SIREN {compact}: expected digits only", value=value)
    _check_luhn("SIREN", compact, value)
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
    compact = _compact(value, "SIRET")
    if len(compact) != 14:
        raise IdentifierError(
            "SIRET", "length", f"SIRET {compact}: expected 14 digits, got {len(compact)}", value=value
        )
    if not _is_digits(compact):
        raise IdentifierError("SIRET", "format", f"SIRET {compact}: expected digits only", value=value)
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
    _check_luhn("SIRET", compact, value)
    return Siret(compact, siren, nic, la_poste=siren == LA_POSTE_SIREN)


StructIdNatKind = Literal["cabinet ADELI", "FINESS", "SIREN", "SIRET", "RPPS rang", "technical"]
_STRUCT_PREFIXES: dict[str, StructIdNatKind] = {
    "0": "cabinet ADELI",
    "1": "FINESS",
    "2": "SIREN",
    "3": "SIRET",
    "4": "RPPS rang",
}


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
    compact = _compact(value, "Struct_IdNat", opaque=True)
    if _OPAQUE.fullmatch(compact) is None:
        raise IdentifierError(
            "Struct_IdNat",
            "format",
            f"Struct_IdNat {compact}: only visible ASCII characters are allowed",
            value=value,
        )
    prefix, number = compact[0], compact[1:]
    kind = _STRUCT_PREFIXES.get(prefix)
    if kind is None:
        return StructIdNat(compact, "", "technical", compact)
    if not number:
        raise IdentifierError(
            "Struct_IdNat",
            "length",
            f"Struct_IdNat {compact}: the number after prefix {prefix} is missing",
            value=value,
        )
    try:
        if kind == "FINESS":
            number = check_finess(number).value
        elif kind == "SIREN":
            number = check_siren(number).value
        elif kind == "SIRET":
            number = check_siret(number).value
    except IdentifierError as exc:
        raise IdentifierError(
            "Struct_IdNat",
            exc.problem,
            f"Struct_IdNat {compact} (prefix {prefix} = {kind}): {exc}",
            value=value,
            expected=exc.expected,
        ) from exc
    return StructIdNat(prefix + number, prefix, kind, number)


def struct_idnat_from_finess(finess: str) -> str:
    """The structure national id of an ESMS: ``1`` + FINESS (CDA ``representedOrganization/id``)."""
    return "1" + check_finess(finess).value


def struct_idnat_from_siret(siret: str) -> str:
    """The structure national id built from a SIRET: ``3`` + SIRET."""
    return "3" + check_siret(siret).value


# ----------------------------------------------------------------------------------------------------------
# INSEE COG codes (birth place)
# ----------------------------------------------------------------------------------------------------------
InseeCodeKind = Literal["commune", "overseas", "country"]
_COMMUNE = re.compile(r"(?P<dept>[0-9]{2}|2A|2B)(?P<commune>[0-9]{3})")
_OVERSEAS = re.compile(r"(?P<dept>97[1-8]|98[4-9])(?P<commune>[0-9]{2})")
_COUNTRY = re.compile(r"99[1-5][0-9]{2}")


@dataclass(frozen=True, slots=True)
class InseeCode:
    """A checked INSEE COG code: a commune (metropolitan France, Corsica included), an overseas commune
    (``97x``/``98x`` + 2 digits) or a foreign country (``99xxx``, e.g. ``99100`` for France in FranceConnect's
    ``birthcountry``). ``department`` is ``99`` for a country."""

    value: str
    kind: InseeCodeKind
    department: str

    @property
    def is_corsica(self) -> bool:
        """Corsican commune: ``2A``/``2B`` since 1976, ``20`` in codes valid before 1976."""
        return self.kind == "commune" and self.department in ("2A", "2B", "20")


def check_insee_code(value: str) -> InseeCode:
    """Check the format of an INSEE COG code (5 characters) -- the birth-place trait of the INS.

    * ``99`` + a 3-digit country code whose first digit is the continent 1-5: a foreign country (``99100`` to
      ``99599``);
    * ``971``-``978`` (DOM and Saint-Pierre-et-Miquelon, Mayotte, Saint-Barthélemy, Saint-Martin) and ``984``-``989``
      (TAAF, Wallis-et-Futuna, Polynésie, Nouvelle-Calédonie, Clipperton; 985 = Mayotte before 2011) + 2 digits:
      an overseas commune;
    * otherwise 2 digits (``01``-``95``; ``20`` only in codes valid before 1976) or ``2A``/``2B`` + 3 digits
      other than ``000``: a commune of metropolitan France.

    Only the format is checked: whether the code exists in the COG at a given date needs the COG tables.
    """
    compact = _compact(value, "INSEE code")
    if len(compact) != 5:
        raise IdentifierError(
            "INSEE code",
            "length",
            f"INSEE code {compact}: expected 5 characters, got {len(compact)}",
            value=value,
        )
    if compact.startswith("99"):
        if _COUNTRY.fullmatch(compact) is None:
            raise IdentifierError(
                "INSEE code",
                "format",
                f"INSEE code {compact}: a country code is 99 followed by 3 digits from 100 to 599",
                value=value,
            )
        return InseeCode(compact, "country", "99")
    if compact[:2] in ("97", "98"):
        overseas = _OVERSEAS.fullmatch(compact)
        if overseas is None:
            raise IdentifierError(
                "INSEE code",
                "format",
                f"INSEE code {compact}: an overseas code starts with 971-978 or 984-989",
                value=value,
            )
        return InseeCode(compact, "overseas", overseas["dept"])
    commune = _COMMUNE.fullmatch(compact)
    if commune is None:
        raise IdentifierError(
            "INSEE code",
            "format",
            f"INSEE code {compact}: expected a 2-character department (digits, 2A or 2B) and 3 digits",
            value=value,
        )
    department = commune["dept"]
    if department == "00" or (department.isdigit() and int(department) > 95):
        raise IdentifierError(
            "INSEE code",
            "format",
            f"INSEE code {compact}: department {department} does not exist",
            value=value,
        )
    if commune["commune"] == "000":
        raise IdentifierError(
            "INSEE code", "format", f"INSEE code {compact}: commune number 000 does not exist", value=value
        )
    return InseeCode(compact, "commune", department)
