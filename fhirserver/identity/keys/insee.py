"""INSEE COG codes (https://www.insee.fr/fr/information/5057840, Code officiel géographique): the birth-place
trait of the INS."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from fhirserver.identity.keys.common import IdentifierError, canonical

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
    compact = canonical(value, "INSEE code")
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
