"""NIR and NIA: the matricule of the INS (15 characters: 13 + a 2-digit key), split into its parts.

Messages about a NIR / NIA never repeat the full number (it is sensitive personal data under the CNIL rules and
error messages end up in logs); the value stays available as ``IdentifierError.value``.

Sources: INSEE definition https://www.insee.fr/fr/metadonnees/definition/c1409 ; service-public.fr "Que signifie
le numéro de sécurité sociale ?" https://www.service-public.fr/particuliers/vosdroits/F33078 ; the Assurance
Maladie (CNAM) reference validator https://github.com/assurance-maladie-digital/nir-validation
(``src/Constraints/NirValidator.php`` and ``UPGRADE-2.0.md`` at commit 5c91c979, 2024-10-14) ; python-stdnum
``stdnum/fr/nir.py``. NIA "constitué comme un NIR": circulaire DSS/SD4C n° 2012-213 du 1er juin 2012, as quoted
by net-entreprises (https://formation-net-entreprises.fr/utilisation-dun-nir-dattente-nia-pour-le-pas/).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from fhirserver.identity.keys.common import IdentifierError, canonical

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
    value = canonical(first13, kind)
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
    compact = canonical(value, kind)
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
