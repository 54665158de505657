"""Deterministic synthetic data for ``dui bench``: a French care-home (EHPAD) population.

Every transaction Bundle holds 100 entries, self-contained through ``urn:uuid:`` references: 10 Patients,
20 Encounters (two stays or visits per resident) and 70 Observations (vital signs and laboratory results with
LOINC codes, seven per resident, each linked to the resident and to one of the resident's encounters). Bundle
``b`` depends only on ``(seed, b)``, so any process can build any slice of the data set without coordination,
and two runs with the same seed post byte-identical bodies.

Patient ``i`` (global index, ``0 <= i < patients``) has a unique INS-NIR style identifier computed by
:func:`nir` and a surname drawn from :data:`SURNAMES`; searches are drawn from the same pools.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

BUNDLE_SIZE = 100
PATIENTS_PER_BUNDLE = 10
ENCOUNTERS_PER_PATIENT = 2
OBSERVATIONS_PER_PATIENT = 7

NIR_SYSTEM = "urn:oid:1.2.250.1.213.1.4.8"  # INS-NIR
IPP_SYSTEM = "https://ehpad-les-tilleuls.example.fr/fhir/sid/ipp"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"

#: Observations are spread over these two years (730 days).
FIRST_DAY = date(2023, 1, 1)
DAYS = 730

SURNAMES: tuple[str, ...] = (
    "Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois", "Moreau", "Laurent",
    "Simon", "Michel", "Lefèvre", "Leroy", "Roux", "David", "Bertrand", "Morel", "Fournier", "Girard",
    "Bonnet", "Dupont", "Lambert", "Fontaine", "Rousseau", "Vincent", "Muller", "Lefebvre", "Faure", "André",
    "Mercier", "Blanc", "Guérin", "Boyer", "Garnier", "Chevalier", "François", "Legrand", "Gauthier", "Garcia",
    "Perrin", "Robin", "Clément", "Morin", "Nicolas", "Henry", "Roussel", "Mathieu", "Gautier", "Masson",
)
GIVEN_FEMALE = ("Jeanne", "Marie", "Germaine", "Yvonne", "Suzanne", "Madeleine", "Marguerite", "Simone",
                "Odette", "Paulette", "Denise", "Lucienne", "Geneviève", "Thérèse", "Colette")
GIVEN_MALE = ("Jean", "Pierre", "André", "Louis", "René", "Marcel", "Robert", "Roger", "Henri", "Georges",
              "Maurice", "Lucien", "Raymond", "Bernard", "François")
CITIES = (("Dijon", "21000", "21"), ("Beaune", "21200", "21"), ("Chalon-sur-Saône", "71100", "71"),
          ("Mâcon", "71000", "71"), ("Auxerre", "89000", "89"), ("Besançon", "25000", "25"),
          ("Lyon", "69003", "69"), ("Nevers", "58000", "58"))
STREETS = ("rue de la République", "avenue Jean Jaurès", "rue Victor Hugo", "place de la Libération",
           "rue des Tilleuls", "chemin des Vignes", "boulevard Carnot", "rue Pasteur")

#: (LOINC code, display, unit, UCUM code, low, high, decimals, category)
OBSERVATION_KINDS: tuple[tuple[str, str, str, str, float, float, int, str], ...] = (
    ("29463-7", "Body weight", "kg", "kg", 42.0, 95.0, 1, "vital-signs"),
    ("8867-4", "Heart rate", "/min", "/min", 52.0, 110.0, 0, "vital-signs"),
    ("8310-5", "Body temperature", "°C", "Cel", 35.8, 38.9, 1, "vital-signs"),
    ("8480-6", "Systolic blood pressure", "mmHg", "mm[Hg]", 95.0, 175.0, 0, "vital-signs"),
    ("2708-6", "Oxygen saturation in Arterial blood", "%", "%", 88.0, 100.0, 0, "vital-signs"),
    ("9279-1", "Respiratory rate", "/min", "/min", 12.0, 26.0, 0, "vital-signs"),
    ("39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", "kg/m2", 16.0, 34.0, 1, "vital-signs"),
    ("2339-0", "Glucose [Mass/volume] in Blood", "g/L", "g/L", 0.7, 2.2, 2, "laboratory"),
    ("72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported", "{score}", "{score}",
     0.0, 8.0, 0, "survey"),
    ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/L", "mg/L", 6.0, 20.0, 1, "laboratory"),
)
LOINC_CODES: tuple[str, ...] = tuple(k[0] for k in OBSERVATION_KINDS)

PARIS = timezone(timedelta(hours=1))


@dataclass(frozen=True)
class DataSetShape:
    """How many Bundles and resources of each type a requested size gives."""

    bundles: int

    @property
    def patients(self) -> int:
        return self.bundles * PATIENTS_PER_BUNDLE

    @property
    def resources(self) -> int:
        return self.bundles * BUNDLE_SIZE


def shape(resources: int) -> DataSetShape:
    """The data set for about ``resources`` resources: whole Bundles of 100, at least one."""
    return DataSetShape(bundles=max(1, resources // BUNDLE_SIZE))


def nir(i: int) -> str:
    """A unique, well-formed 15-digit NIR for patient ``i`` (sex, birth year and month, place, order, key)."""
    rng = random.Random(i * 7919 + 17)
    sex = 1 + (i % 2)
    year = 25 + rng.randrange(26)  # born 1925-1950
    month = 1 + rng.randrange(12)
    dept = 21 + (i // 1_000_000) % 70
    commune = (i // 1000) % 1000
    order = i % 1000
    body = int(f"{sex}{year:02d}{month:02d}{dept:02d}{commune:03d}{order:03d}")
    return f"{body:013d}{97 - body % 97:02d}"


def surname(i: int) -> str:
    """The surname of patient ``i`` (every surname is shared by about 1/50 of the residents)."""
    return SURNAMES[random.Random(i * 104729 + 3).randrange(len(SURNAMES))]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def patient(i: int, rng: random.Random) -> dict[str, Any]:
    """Resident ``i`` as a FHIR Patient (no id: the server assigns it)."""
    female = i % 2 == 1
    number = nir(i)
    year = 1900 + int(number[1:3])
    month = int(number[3:5])
    born = date(year, month, 1 + rng.randrange(28))
    city, postcode, _dept = CITIES[rng.randrange(len(CITIES))]
    given = GIVEN_FEMALE if female else GIVEN_MALE
    family = surname(i)
    name: dict[str, Any] = {"use": "official", "family": family,
                            "given": [given[rng.randrange(len(given))], given[rng.randrange(len(given))]]}
    return {
        "resourceType": "Patient",
        "identifier": [
            {"use": "official", "system": NIR_SYSTEM, "value": number,
             "type": {"coding": [{"system": "http://interopsante.org/CodeSystem/v2-0203", "code": "INS-NIR"}]}},
            {"use": "usual", "system": IPP_SYSTEM, "value": f"IPP{i:08d}"},
        ],
        "active": True,
        "name": [name],
        "telecom": [{"system": "phone", "value": f"03 80 {rng.randrange(100):02d} {rng.randrange(100):02d} "
                                                  f"{rng.randrange(100):02d}", "use": "home"}],
        "gender": "female" if female else "male",
        "birthDate": born.isoformat(),
        "address": [{"use": "home", "line": [f"{1 + rng.randrange(120)} {STREETS[rng.randrange(len(STREETS))]}"],
                     "city": city, "postalCode": postcode, "country": "FR"}],
        "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "fr-FR"}]}}],
    }


def _instant(rng: random.Random) -> datetime:
    day = FIRST_DAY + timedelta(days=rng.randrange(DAYS))
    return datetime(day.year, day.month, day.day, 7 + rng.randrange(13), rng.randrange(60), 0, tzinfo=PARIS)


def encounter(patient_ref: str, rng: random.Random) -> dict[str, Any]:
    """A stay (IMP) or a visit (AMB) of a resident."""
    start = _instant(rng)
    stay = rng.random() < 0.3
    end = start + (timedelta(days=1 + rng.randrange(20)) if stay else timedelta(minutes=20 + rng.randrange(60)))
    cls = ("IMP", "inpatient encounter") if stay else ("AMB", "ambulatory")
    return {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": cls[0], "display": cls[1]},
        "type": [{"text": "Hébergement permanent" if stay else "Visite du médecin coordonnateur"}],
        "subject": {"reference": patient_ref},
        "period": {"start": start.isoformat(), "end": end.isoformat()},
    }


def observation(patient_ref: str, encounter_ref: str, rng: random.Random) -> dict[str, Any]:
    """A vital sign, a laboratory result or a pain score, coded in LOINC with a UCUM quantity."""
    code, display, unit, ucum, low, high, decimals, category = OBSERVATION_KINDS[rng.randrange(len(OBSERVATION_KINDS))]
    value = round(low + (high - low) * rng.random(), decimals)
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": category}]}],
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
        "subject": {"reference": patient_ref},
        "encounter": {"reference": encounter_ref},
        "effectiveDateTime": _instant(rng).isoformat(),
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": ucum},
    }


def bundle(b: int, seed: int) -> dict[str, Any]:
    """Transaction Bundle number ``b``: 10 Patients, 20 Encounters and 70 Observations linked by urn:uuid."""
    rng = random.Random(seed * 1_000_003 + b)
    entries: list[dict[str, Any]] = []
    encounters: list[dict[str, Any]] = []
    observations: list[dict[str, Any]] = []
    for k in range(PATIENTS_PER_BUNDLE):
        i = b * PATIENTS_PER_BUNDLE + k
        p_url = "urn:uuid:" + _uuid(rng)
        entries.append({"fullUrl": p_url, "resource": patient(i, rng),
                        "request": {"method": "POST", "url": "Patient"}})
        e_urls = []
        for _ in range(ENCOUNTERS_PER_PATIENT):
            e_url = "urn:uuid:" + _uuid(rng)
            e_urls.append(e_url)
            encounters.append({"fullUrl": e_url, "resource": encounter(p_url, rng),
                               "request": {"method": "POST", "url": "Encounter"}})
        for _ in range(OBSERVATIONS_PER_PATIENT):
            observations.append({"fullUrl": "urn:uuid:" + _uuid(rng),
                                 "resource": observation(p_url, e_urls[rng.randrange(len(e_urls))], rng),
                                 "request": {"method": "POST", "url": "Observation"}})
    entries += encounters + observations
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def bundle_bytes(b: int, seed: int) -> bytes:
    """Bundle ``b`` serialised as compact UTF-8 JSON, as the load generator posts it."""
    return json.dumps(bundle(b, seed), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def new_patient(k: int) -> dict[str, Any]:
    """The body of the k-th single create (``POST Patient``): a new admission, outside the searched pools."""
    rng = random.Random(900_000_000 + k)
    body = patient(10_000_000 + k, rng)
    body["name"][0]["family"] = "Admission"  # never one of SURNAMES: searches keep seeing the ingested set
    body["identifier"] = [{"use": "usual", "system": IPP_SYSTEM, "value": f"NEW{k:08d}"}]
    return body


def day(k: int) -> str:
    """Day ``k`` (0-based) of the two-year observation window, as YYYY-MM-DD."""
    return (FIRST_DAY + timedelta(days=k % DAYS)).isoformat()
