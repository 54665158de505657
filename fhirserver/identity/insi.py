"""INSi teleservice client: the interface, a local simulator, and the seam of the real SOAP service.

The CNAM INSi teleservice (french-interop.md §1.5) has two unitary operations: **récupération** of the INS
(by reading the carte Vitale, or by searching on traits) and **vérification** of an INS + traits. Answer
codes, as the service gives them: ``00`` one identity found, ``01`` no identity found, ``02`` several
identities found (the caller must then refine the traits, e.g. with the birth place).

* :class:`InsiClient` -- the interface operations use (``ctx.services.insi``);
* :class:`SimulatorInsiClient` -- fictitious test identities from ``config/insi-simulator.json``, matched like
  the service (birth family name, a birth given name, sex and birth date required; birth place refines; names
  compared accent-, case- and punctuation-insensitively);
* :class:`SoapInsiClient` -- configured (``identity.insi_url``) but not implemented: every call raises
  :class:`~fhirserver.errors.NotSupported` explaining the prerequisites.

``settings.identity.insi_client`` ("simulator" | "soap") picks one (:func:`build_insi_client`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal, Protocol

from fhirserver.errors import Invalid, NotSupported
from fhirserver.identity.traits import InsTraits, fold
from fhirserver.settings import Settings, SettingsError

__all__ = ["ANSWER_LABELS", "InsiAnswer", "InsiClient", "InsiIdentity", "SimulatorInsiClient", "SoapInsiClient",
           "build_insi_client", "traits_agree"]

ANSWER_LABELS = {
    "00": "une identité trouvée",
    "01": "aucune identité trouvée",
    "02": "plusieurs identités trouvées",
}


@dataclass(frozen=True)
class InsiIdentity:
    """One identity the INSi returns: the matricule (NIR or NIA) and its reference traits."""

    matricule: str
    kind: Literal["NIR", "NIA"]
    traits: InsTraits
    birth_place_label: str | None = None


@dataclass(frozen=True)
class InsiAnswer:
    """The answer of one INSi call."""

    code: Literal["00", "01", "02"]
    identities: tuple[InsiIdentity, ...] = ()
    queried_on: str = field(default_factory=lambda: date.today().isoformat())
    operation: Literal["search", "verify"] = "search"
    message: str = ""

    @property
    def label(self) -> str:
        return ANSWER_LABELS[self.code]


class InsiClient(Protocol):
    """What the identity operations need from the INSi teleservice."""

    def search_by_traits(self, traits: InsTraits) -> InsiAnswer:
        """Récupération of the INS by traits (birth family name, birth given names, sex, birth date required;
        birth place optional)."""
        ...

    def verify(self, ins: str, traits: InsTraits) -> InsiAnswer:
        """Vérification: ``00`` when the INS exists and its traits are the given ones, ``01`` otherwise."""
        ...

    def read_vitale_card(self) -> InsiAnswer:
        """Récupération by reading the carte Vitale (the RNIV's recommended route). A seam: it needs a card
        reader on the operator's workstation (SESAM-Vitale API), not a server-side call."""
        ...


def _vitale_seam() -> NotSupported:
    return NotSupported(
        "INSi by carte Vitale is not supported by this server: reading the card needs a SESAM-Vitale reader on the "
        "operator's workstation; query by traits (method=traits) or read the card client-side")


def _require_traits(traits: InsTraits) -> None:
    missing = [name for name, value in (("birth family name", traits.birth_family), ("sex", traits.sex),
                                        ("birth date", traits.birth_date)) if not value]
    if not (traits.first_given or traits.given_list):
        missing.append("birth given name")
    if missing:
        raise Invalid("an INSi search needs the birth family name, a birth given name, the sex and the birth date; "
                      "missing: " + ", ".join(missing))


def _given_matches(asked: InsTraits, ref: InsTraits) -> bool:
    wanted = fold(asked.first_given) or fold(asked.given_list).split(" ")[0]
    return bool(wanted) and (wanted == fold(ref.first_given) or wanted in fold(ref.given_list).split(" ")
                             or fold(asked.given_list) == fold(ref.given_list))


def traits_agree(local: InsTraits, ref: InsTraits) -> list[str]:
    """Traits present locally that differ from the reference ones after accent/case normalisation (names) or
    exactly (sex, birth date, birth place). Empty when they agree; absent local traits are not differences."""
    differ = []
    for name in ("birth_family", "first_given", "given_list"):
        mine = getattr(local, name)
        if mine and fold(mine) != fold(getattr(ref, name)):
            differ.append(name)
    for name in ("sex", "birth_date", "birth_place"):
        mine = getattr(local, name)
        if mine and mine != getattr(ref, name):
            differ.append(name)
    return differ


class SimulatorInsiClient:
    """A local INSi with fictitious identities (``config/insi-simulator.json``): for the demo and the tests."""

    def __init__(self, path: Path) -> None:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        self.identities = tuple(self._identity(row) for row in data["identities"])

    @staticmethod
    def _identity(row: dict[str, Any]) -> InsiIdentity:
        traits = InsTraits(birth_family=row["birthFamily"], first_given=row["firstGiven"],
                           given_list=row["givenList"], sex=row["sex"], birth_date=row["birthDate"],
                           birth_place=row["birthPlace"])
        return InsiIdentity(row["matricule"], row["kind"], traits, row.get("birthPlaceLabel"))

    def search_by_traits(self, traits: InsTraits) -> InsiAnswer:
        _require_traits(traits)
        found = tuple(
            i for i in self.identities
            if fold(i.traits.birth_family) == fold(traits.birth_family) and _given_matches(traits, i.traits)
            and i.traits.sex == traits.sex and i.traits.birth_date == traits.birth_date
            and (not traits.birth_place or i.traits.birth_place == traits.birth_place))
        if not found:
            return InsiAnswer("01", message="no identity matches these traits")
        if len(found) > 1:
            return InsiAnswer("02", found, message=f"{len(found)} identities match these traits: "
                                                   "add the birth place to tell them apart")
        return InsiAnswer("00", found)

    def verify(self, ins: str, traits: InsTraits) -> InsiAnswer:
        match = next((i for i in self.identities if i.matricule == ins), None)
        if match is None:
            return InsiAnswer("01", operation="verify", message="no identity has this INS")
        differ = traits_agree(traits, match.traits)
        if differ:
            return InsiAnswer("01", operation="verify", message="the INS exists but its traits differ: "
                              + ", ".join(differ))
        return InsiAnswer("00", (match,), operation="verify")

    def read_vitale_card(self) -> InsiAnswer:
        raise _vitale_seam()


class SoapInsiClient:
    """The real CNAM teleservice (SOAP). Configured but not implemented: its technical specification is only
    given to industrialists by GIE SESAM-Vitale, and production use requires a CNDA authorisation."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _refuse(self) -> NotSupported:
        where = f" configured at {self.url}" if self.url else " (identity.insi_url is empty)"
        return NotSupported(
            f"the INSi SOAP teleservice{where} is not implemented by this server: it needs the GIE SESAM-Vitale "
            "integration specification (not public), a CNDA authorisation of the client (test campaign) and an "
            "IGC Santé certificate (personne morale) or the operator's CPx card; use insi_client = \"simulator\" "
            "for tests and demos")

    def search_by_traits(self, traits: InsTraits) -> InsiAnswer:
        raise self._refuse()

    def verify(self, ins: str, traits: InsTraits) -> InsiAnswer:
        raise self._refuse()

    def read_vitale_card(self) -> InsiAnswer:
        raise _vitale_seam()


def build_insi_client(settings: Settings) -> InsiClient:
    """The client ``settings.identity.insi_client`` names. The simulator's identities are fictitious: combined
    with ``ins_environment = "production"`` it would record them under the production INS authority, so that
    configuration stops start-up."""
    if settings.identity.insi_client == "soap":
        return SoapInsiClient(settings.identity.insi_url)
    if settings.identity.ins_environment == "production":
        raise SettingsError("[identity] insi_client = \"simulator\" cannot be used with ins_environment = "
                            "\"production\": the simulator's identities are fictitious (use \"soap\")")
    return SimulatorInsiClient(Path(settings.config_dir) / "insi-simulator.json")
