"""Deterministic French demo data set for the DUI server (``dui demo``).

``build_demo_bundle`` returns a FHIR R4 ``transaction`` Bundle (plain dict) describing two medico-social
structures -- an EHPAD in Lyon and a SSIAD in the Val de Saône -- with their staff, usagers, aidants, care
circles, projets personnalisés and a small clinical record per usager.

Design rules:

* Every entry is ``PUT <Type>/<stable-id>`` with a readable client-assigned id (``Patient/ehpad-usager-001``),
  so loading the demo twice updates the same resources instead of duplicating them.
* ``fullUrl`` is ``urn:uuid:<uuid5>`` derived from the seed and the stable id, and references between entries
  are written ``<Type>/<stable-id>``.
* The output only depends on ``seed`` and ``usagers``: no clock, no global random state, no set ordering.
* Identifiers follow ``french-interop.md``: FINESS / RPPS with valid Luhn keys, IDNPS = ``8`` + RPPS,
  Struct_IdNat = ``1`` + FINESS, INS-NIR with a valid key and **only** the TEST OID ``1.2.250.1.213.1.4.10``
  (demo data must never carry the production INS OID).
* The identity status is serialised with the FR Core 2.1.0 coding (``fr-core-cs-v2-0445``: ``VALI`` for a
  qualified identity carrying an INS, ``PROV`` otherwise), the version TDDUI / PDSm depend on.
* Display texts (``CodeableConcept.text``, names, descriptions) are in French; ``coding.display`` keeps the
  official display of international code systems (LOINC, SNOMED CT, HL7) and the French label of French
  terminologies (NOS TRE_*, CIM-10).
"""

from __future__ import annotations

import base64
import hashlib
import random
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from fhirserver.identity.keys import luhn_check_digit, luhn_is_valid, nir_key

Resource = dict[str, Any]

__all__ = ["build_demo_bundle", "luhn_is_valid", "nir_key", "REFERENCE_DATE"]

# "Today" of the demo world: fixed so that the bundle never depends on the clock.
REFERENCE_DATE = date(2026, 9, 30)

# ----------------------------------------------------------------------------------------------------------
# Identifier systems, code systems, extensions and profiles (french-interop.md §1-§3)
# ----------------------------------------------------------------------------------------------------------
FINESS_SYSTEM = "https://finess.esante.gouv.fr"
RPPS_SYSTEM = "https://rpps.esante.gouv.fr"
IDNPS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"
IDNST_SYSTEM = "urn:oid:1.2.250.1.71.4.2.2"
INS_NIR_TEST_SYSTEM = "urn:oid:1.2.250.1.213.1.4.10"
LOCAL_USAGER_SYSTEM = "https://identifiant-medicosocial-localusager.esante.gouv.fr"
PROJET_PERSO_SYSTEM = "https://identifiant-medicosocial-projetpersonnalise.esante.gouv.fr"
SEJOUR_SYSTEM = "https://identifiant-medicosocial-sejour.esante.gouv.fr"
# Local (demo) namespace for identifiers without a national system (staff numbers, aidants, care circles...).
DEMO_ID_BASE = "https://fhir.dui-demo.fr/sid"

FR_CORE_V2_0203 = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
FR_CORE_V2_0445 = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0445"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
TRE_R13_COMMUNE = "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM"
TRE_G15_PROFESSION = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
TRE_R85_ROLE = "https://mos.esante.gouv.fr/NOS/TRE_R85-RolePriseCharge/FHIR/TRE-R85-RolePriseCharge"
TRE_R260_ROLE_CLASS = "https://mos.esante.gouv.fr/NOS/TRE_R260-HL7RoleClass/FHIR/TRE-R260-HL7RoleClass"
TRE_R216_ROLE_CODE = "https://mos.esante.gouv.fr/NOS/TRE_R216-HL7RoleCode/FHIR/TRE-R216-HL7RoleCode"
TRE_R66_CATEGORIE = (
    "https://mos.esante.gouv.fr/NOS/TRE_R66-CategorieEtablissement/FHIR/TRE-R66-CategorieEtablissement"
)
TRE_R02_SECTEUR = "https://mos.esante.gouv.fr/NOS/TRE_R02-SecteurActivite/FHIR/TRE-R02-SecteurActivite"
TRE_A01_CADRE = "https://mos.esante.gouv.fr/NOS/TRE_A01-CadreExercice/FHIR/TRE-A01-CadreExercice"
TRE_A11_FORMAT = "https://mos.esante.gouv.fr/NOS/TRE_A11-IheFormatCode/FHIR/TRE-A11-IheFormatCode"
TRE_R390_PROJET = "https://smt.esante.gouv.fr/fhir/CodeSystem/tre-r390-type-projet-personnalise"
# TA_ASIP terminology (CI-SIS): MED-346 "Score GIR", MED-339..MED-344 "GIR-1".."GIR-6" (JDV_GIR_CISIS).
TA_ASIP = "urn:oid:1.2.250.1.213.1.1.4.322"
V3_ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V3_MARITAL = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"
V3_PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ATC = "http://www.whocc.no/atc"
UCUM = "http://unitsofmeasure.org"
BCP47 = "urn:ietf:bcp:47"

EXT_IDENTITY_RELIABILITY = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability"
EXT_BIRTH_LIST_GIVEN_NAME = (
    "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-birth-list-given-name"
)
EXT_INSEE_CODE = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code"
EXT_BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"

FR_CORE_SD = "https://hl7.fr/ig/fhir/core/StructureDefinition"
PROFILE_PATIENT = f"{FR_CORE_SD}/fr-core-patient"
PROFILE_PATIENT_INS = f"{FR_CORE_SD}/fr-core-patient-ins"
PROFILE_PRACTITIONER = f"{FR_CORE_SD}/fr-core-practitioner"
PROFILE_ORGANIZATION = f"{FR_CORE_SD}/fr-core-organization"
PROFILE_RELATED_PERSON = f"{FR_CORE_SD}/fr-core-related-person"
PROFILE_CARETEAM = "https://interop.esante.gouv.fr/ig/fhir/cds/StructureDefinition/cds-ihe-careteam"

# TDDUI (ansforge/IG-fhir-medicosocial-transfert-donnees-dui, french-interop.md §3.2): the demo records are shaped so
# that Patient/{id}/$tddui-export of any usager validates against the TDDUI profiles.
TDDUI_SD = "https://interop.esante.gouv.fr/ig/fhir/tddui/StructureDefinition"
EXT_TDDUI_BIRTH_ORDER = f"{TDDUI_SD}/tddui-birth-order"  # TDDUIPatientMultipleBirthExtension.fsh
TDDUI_ENCOUNTER_IDENTIFIER = "https://interop.esante.gouv.fr/ig/fhir/tddui/CodeSystem/tddui-encounter-identifier"
# JDV_J226-ModaliteAccueil-ROR (TRE_R338), the required binding of tddui-encounter-sejour.serviceType
TRE_R338_MODALITE_ACCUEIL = "https://mos.esante.gouv.fr/NOS/TRE_R338-ModaliteAccueil/FHIR/TRE-R338-ModaliteAccueil"

_UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://fhir.dui-demo.fr/demo-bundle")


# ----------------------------------------------------------------------------------------------------------
# Check keys
# ----------------------------------------------------------------------------------------------------------
# The check keys come from fhirserver.identity.keys (one implementation for the whole project).
_luhn_digit = luhn_check_digit


# ----------------------------------------------------------------------------------------------------------
# Small FHIR helpers
# ----------------------------------------------------------------------------------------------------------
def _ref(resource_type: str, resource_id: str, display: str | None = None) -> dict[str, str]:
    reference = {"reference": f"{resource_type}/{resource_id}"}
    if display:
        reference["display"] = display
    return reference


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return coding


def _cc(system: str, code: str, display: str | None = None, text: str | None = None) -> dict[str, Any]:
    concept: dict[str, Any] = {"coding": [_coding(system, code, display)]}
    if text:
        concept["text"] = text
    return concept


def _paris_offset(day: date) -> str:
    """UTC offset of Europe/Paris at daytime on ``day`` (EU rule: last Sundays of March and October)."""

    def last_sunday(year: int, month: int) -> date:
        last = date(year, month + 1, 1) - timedelta(days=1)
        return last - timedelta(days=(last.weekday() + 1) % 7)

    summer = last_sunday(day.year, 3) <= day < last_sunday(day.year, 10)
    return "+02:00" if summer else "+01:00"


def _add_years(day: date, years: int) -> date:
    """``day`` shifted by ``years`` (29 February becomes 28 February in non-leap years)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def _instant(day: date, hour: int = 9, minute: int = 0) -> str:
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}:00{_paris_offset(day)}"


def _ascii_slug(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(c for c in decomposed if c.isascii() and (c.isalnum() or c in " -'"))
    return "-".join(kept.lower().replace("'", " ").split())


def _format_fr_date(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def _pdf_escape(text: str) -> bytes:
    raw = text.encode("cp1252", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def minimal_pdf(lines: list[str]) -> bytes:
    """A small but structurally valid one-page PDF 1.4 (Helvetica, WinAnsi) showing ``lines``."""
    stream = b"BT /F1 11 Tf 14 TL 56 790 Td\n"
    for index, line in enumerate(lines):
        stream += (b"T* " if index else b"") + b"(" + _pdf_escape(line) + b") Tj\n"
    stream += b"ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: list[int] = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref_offset = len(out)
    out += f"xref\n0 {len(objects) + 1}\n".encode()
    out += b"0000000000 65535 f \n"
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref_offset}\n%%EOF\n".encode()
    return bytes(out)


# ----------------------------------------------------------------------------------------------------------
# Reference data (fictitious people; real French communes with their INSEE COG code and postal code)
# ----------------------------------------------------------------------------------------------------------
FEMALE_GIVEN = [
    "Hélène",
    "Cécile",
    "Anaïs",
    "Geneviève",
    "Thérèse",
    "Odette",
    "Françoise",
    "Jeanne",
    "Marie",
    "Simone",
    "Lucienne",
    "Germaine",
    "Renée",
    "Colette",
    "Josette",
    "Andrée",
    "Paulette",
    "Yvonne",
    "Madeleine",
    "Éliane",
    "Noëlle",
    "Gisèle",
    "Solange",
    "Marcelle",
    "Bernadette",
    "Monique",
    "Irène",
    "Agnès",
    "Léonie",
    "Célestine",
    "Zoé",
    "Mireille",
    "Suzanne",
    "Raymonde",
    "Ghislaine",
    "Marguerite",
]
MALE_GIVEN = [
    "François",
    "Jérôme",
    "Benoît",
    "René",
    "André",
    "Léon",
    "Étienne",
    "Gérard",
    "Hervé",
    "Noël",
    "Raphaël",
    "Joël",
    "Aimé",
    "Honoré",
    "Jean",
    "Pierre",
    "Louis",
    "Marcel",
    "Henri",
    "Lucien",
    "Maurice",
    "Raymond",
    "Roger",
    "Fernand",
    "Gilbert",
    "Michel",
    "Jacques",
    "Bernard",
    "Clément",
    "Félix",
    "Théodore",
    "Émile",
]
# Extra given names of the birth certificate (liste des prénoms de naissance).
FEMALE_MIDDLE = [
    "Marie",
    "Louise",
    "Thérèse",
    "Anne",
    "Joséphine",
    "Hélène",
    "Françoise",
    "Éléonore",
    "Agathe",
]
MALE_MIDDLE = ["Jean", "Marie", "Joseph", "Louis", "André", "Pierre", "Léon", "François", "Honoré"]
FAMILY_NAMES = [
    "Lefèvre",
    "Bérard",
    "Guérin",
    "Chevalier",
    "Mercier",
    "Fournier",
    "Lemaître",
    "Rousseau",
    "Perrin",
    "Gauthier",
    "Faure",
    "Girard",
    "Bonnet",
    "Lambert",
    "Fontaine",
    "Roux",
    "Morel",
    "Duval",
    "Garnier",
    "Brunet",
    "Blanchard",
    "Masson",
    "Dumont",
    "Giraud",
    "Joly",
    "Prévost",
    "Lécuyer",
    "Thévenin",
    "Ménard",
    "Vallée",
    "Jégou",
    "Dufrêne",
    "Crépin",
    "Gérard",
    "Hébert",
    "Émery",
    "Noël",
    "Barthélemy",
    "Pelletier",
    "Rivière",
    "Chênevier",
    "Besançon",
    "Delorme",
    "Pétrequin",
    "Régnier",
    "Sénéchal",
    "Aubépin",
    "Cléret",
    "Dubœuf",
    "Lavergne",
    "Saint-Pierre",
    "Moreau",
    "Benoît",
]
STAFF_FEMALE_GIVEN = [
    "Anaïs",
    "Cécile",
    "Élodie",
    "Céline",
    "Léa",
    "Chloé",
    "Inès",
    "Noémie",
    "Hélène",
    "Aurélie",
    "Stéphanie",
    "Gaëlle",
    "Maëlle",
    "Mélanie",
    "Héloïse",
    "Zoé",
]
STAFF_MALE_GIVEN = [
    "Jérôme",
    "Benoît",
    "Sébastien",
    "Frédéric",
    "Maël",
    "Mathéo",
    "Aurélien",
    "Grégoire",
    "Loïc",
]
AIDANT_FEMALE_GIVEN = [
    "Sylvie",
    "Pascale",
    "Véronique",
    "Hélène",
    "Valérie",
    "Nathalie",
    "Cécile",
    "Isabelle",
    "Agnès",
    "Joëlle",
    "Mélanie",
    "Anaïs",
    "Séverine",
    "Frédérique",
    "Laëtitia",
]
AIDANT_MALE_GIVEN = [
    "Frédéric",
    "Thierry",
    "Jérôme",
    "Stéphane",
    "Benoît",
    "François",
    "Régis",
    "Hervé",
    "Aurélien",
    "Cédric",
    "Jérémie",
    "Rémi",
]


@dataclass(frozen=True)
class Commune:
    insee: str
    name: str
    postal_code: str
    cog_label: str = ""  # official COG label when it differs from the city name (arrondissements)

    @property
    def label(self) -> str:
        return self.cog_label or self.name


# Birth places (mostly Auvergne-Rhône-Alpes). Big cities use the arrondissement code, as a NIR does.
BIRTH_COMMUNES = [
    Commune("69383", "Lyon", "69003", "Lyon 3e Arrondissement"),
    Commune("69387", "Lyon", "69007", "Lyon 7e Arrondissement"),
    Commune("69266", "Villeurbanne", "69100"),
    Commune("69264", "Villefranche-sur-Saône", "69400"),
    Commune("01053", "Bourg-en-Bresse", "01000"),
    Commune("71270", "Mâcon", "71000"),
    Commune("71076", "Chalon-sur-Saône", "71100"),
    Commune("42218", "Saint-Étienne", "42000"),
    Commune("38185", "Grenoble", "38000"),
    Commune("73065", "Chambéry", "73000"),
    Commune("74010", "Annecy", "74000"),
    Commune("26362", "Valence", "26000"),
    Commune("21231", "Dijon", "21000"),
    Commune("63113", "Clermont-Ferrand", "63000"),
    Commune("03190", "Moulins", "03000"),
    Commune("39300", "Lons-le-Saunier", "39000"),
    Commune("43157", "Le Puy-en-Velay", "43000"),
    Commune("75115", "Paris", "75015", "Paris 15e Arrondissement"),
    Commune("13206", "Marseille", "13006", "Marseille 6e Arrondissement"),
    Commune("59350", "Lille", "59000"),
    Commune("67482", "Strasbourg", "67000"),
    Commune("29019", "Brest", "29200"),
    Commune("44109", "Nantes", "44000"),
    Commune("31555", "Toulouse", "31000"),
    Commune("33063", "Bordeaux", "33000"),
]
# Corsica (department 2A / 2B since 1976): used for the two younger SSIAD usagers born after 1976.
CORSICA_COMMUNES = [Commune("2A004", "Ajaccio", "20000"), Commune("2B033", "Bastia", "20200")]
# Area served by the SSIAD (home addresses of its usagers).
SSIAD_COMMUNES = [
    Commune("69143", "Neuville-sur-Saône", "69250"),
    Commune("69088", "Fontaines-sur-Saône", "69270"),
    Commune("69168", "Rochetaillée-sur-Saône", "69270"),
    Commune("69278", "Genay", "69730"),
    Commune("69284", "Montanay", "69250"),
    Commune("69085", "Fleurieu-sur-Saône", "69250"),
    Commune("69003", "Albigny-sur-Saône", "69250"),
    Commune("69071", "Curis-au-Mont-d'Or", "69250"),
    Commune("69068", "Couzon-au-Mont-d'Or", "69270"),
    Commune("69207", "Saint-Germain-au-Mont-d'Or", "69650"),
    Commune("69163", "Quincieux", "69650"),
    Commune("01427", "Trévoux", "01600"),
    Commune("01238", "Massieux", "01600"),
    Commune("01285", "Parcieux", "01600"),
    Commune("01322", "Reyrieux", "01600"),
]
STREETS = [
    "rue de la République",
    "chemin des Vignes",
    "rue Victor-Hugo",
    "allée des Érables",
    "impasse du Lavoir",
    "rue de l'Église",
    "route de Trévoux",
    "montée des Forges",
    "quai de Saône",
    "rue Pasteur",
    "place du Marché",
    "rue des Écoles",
    "chemin de la Côte",
    "avenue Général-de-Gaulle",
    "rue du Moulin",
]

LYON_8 = Commune("69388", "Lyon", "69008", "Lyon 8e Arrondissement")
NEUVILLE = SSIAD_COMMUNES[0]
TREVOUX = SSIAD_COMMUNES[11]


@dataclass(frozen=True)
class ConditionDef:
    key: str
    snomed: str
    snomed_display: str
    icd10: str
    icd10_display: str
    text: str


CONDITIONS: dict[str, ConditionDef] = {
    c.key: c
    for c in [
        ConditionDef(
            "alzheimer",
            "26929004",
            "Alzheimer's disease",
            "G30.9",
            "Maladie d'Alzheimer, sans précision",
            "Maladie d'Alzheimer",
        ),
        ConditionDef(
            "diabete",
            "44054006",
            "Diabetes mellitus type 2",
            "E11.9",
            "Diabète sucré de type 2, sans complication",
            "Diabète de type 2",
        ),
        ConditionDef(
            "insuffisance-cardiaque",
            "84114007",
            "Heart failure",
            "I50.9",
            "Insuffisance cardiaque, sans précision",
            "Insuffisance cardiaque",
        ),
        ConditionDef(
            "hta",
            "38341003",
            "Hypertensive disorder, systemic arterial",
            "I10",
            "Hypertension essentielle (primitive)",
            "Hypertension artérielle",
        ),
        ConditionDef(
            "fibrillation-auriculaire",
            "49436004",
            "Atrial fibrillation",
            "I48.9",
            "Fibrillation et flutter auriculaires, sans précision",
            "Fibrillation auriculaire",
        ),
        ConditionDef(
            "arthrose", "396275006", "Osteoarthritis", "M19.9", "Arthrose, sans précision", "Arthrose"
        ),
        ConditionDef(
            "osteoporose", "64859006", "Osteoporosis", "M81.9", "Ostéoporose, sans précision", "Ostéoporose"
        ),
        ConditionDef(
            "parkinson",
            "49049000",
            "Parkinson's disease",
            "G20",
            "Maladie de Parkinson",
            "Maladie de Parkinson",
        ),
        ConditionDef(
            "depression",
            "35489007",
            "Depressive disorder",
            "F32.9",
            "Épisode dépressif, sans précision",
            "Syndrome dépressif",
        ),
        ConditionDef(
            "irc",
            "709044004",
            "Chronic kidney disease",
            "N18.9",
            "Maladie rénale chronique, sans précision",
            "Insuffisance rénale chronique",
        ),
        ConditionDef(
            "bpco",
            "13645005",
            "Chronic obstructive lung disease",
            "J44.9",
            "Maladie pulmonaire obstructive chronique, sans précision",
            "BPCO",
        ),
        ConditionDef(
            "sequelles-avc",
            "230690007",
            "Cerebrovascular accident",
            "I69.4",
            "Séquelles d'accident vasculaire cérébral",
            "Séquelles d'AVC",
        ),
        ConditionDef(
            "sclerose-en-plaques",
            "24700007",
            "Multiple sclerosis",
            "G35",
            "Sclérose en plaques",
            "Sclérose en plaques",
        ),
        ConditionDef(
            "sla",
            "86044005",
            "Amyotrophic lateral sclerosis",
            "G12.2",
            "Maladies du neurone moteur",
            "Sclérose latérale amyotrophique",
        ),
    ]
}
# Conditions drawn at random (Alzheimer goes with the Alzheimer unit, MS/ALS with the young SSIAD usagers).
RANDOM_CONDITION_KEYS = [
    "hta",
    "hta",
    "diabete",
    "insuffisance-cardiaque",
    "fibrillation-auriculaire",
    "arthrose",
    "arthrose",
    "osteoporose",
    "parkinson",
    "depression",
    "irc",
    "bpco",
    "sequelles-avc",
]


@dataclass(frozen=True)
class DrugDef:
    atc: str
    atc_display: str
    text: str
    dosage: str
    frequency: int
    dose_unit: str


# ATC codes (WHO); text = French speciality-free label as written in a prescription.
DRUGS_BY_CONDITION: dict[str, list[DrugDef]] = {
    "alzheimer": [
        DrugDef(
            "N06DA02",
            "donepezil",
            "DONÉPÉZIL 5 mg, comprimé pelliculé",
            "1 comprimé le soir au coucher",
            1,
            "comprimé",
        )
    ],
    "diabete": [
        DrugDef(
            "A10BA02",
            "metformin",
            "METFORMINE 850 mg, comprimé pelliculé",
            "1 comprimé matin et soir au cours des repas",
            2,
            "comprimé",
        )
    ],
    "insuffisance-cardiaque": [
        DrugDef(
            "C03CA01",
            "furosemide",
            "FUROSÉMIDE 40 mg, comprimé sécable",
            "1 comprimé le matin",
            1,
            "comprimé",
        ),
        DrugDef("C07AB07", "bisoprolol", "BISOPROLOL 2,5 mg, comprimé", "1 comprimé le matin", 1, "comprimé"),
    ],
    "hta": [DrugDef("C08CA01", "amlodipine", "AMLODIPINE 5 mg, gélule", "1 gélule le matin", 1, "gélule")],
    "fibrillation-auriculaire": [
        DrugDef(
            "B01AF02",
            "apixaban",
            "APIXABAN 2,5 mg, comprimé pelliculé",
            "1 comprimé matin et soir",
            2,
            "comprimé",
        )
    ],
    "arthrose": [
        DrugDef(
            "N02BE01",
            "paracetamol",
            "PARACÉTAMOL 1 g, comprimé",
            "1 comprimé jusqu'à 3 fois par jour si douleur",
            3,
            "comprimé",
        )
    ],
    "osteoporose": [
        DrugDef(
            "A12AX",
            "calcium, combinations with vitamin D and/or other drugs",
            "CALCIUM 500 mg / VITAMINE D3 400 UI, comprimé à croquer",
            "1 comprimé midi et soir",
            2,
            "comprimé",
        )
    ],
    "parkinson": [
        DrugDef(
            "N04BA02",
            "levodopa and decarboxylase inhibitor",
            "LÉVODOPA 100 mg / BENSÉRAZIDE 25 mg, gélule",
            "1 gélule 3 fois par jour",
            3,
            "gélule",
        )
    ],
    "depression": [
        DrugDef("N06AB06", "sertraline", "SERTRALINE 50 mg, gélule", "1 gélule le matin", 1, "gélule")
    ],
    "bpco": [
        DrugDef(
            "R03BB04",
            "tiotropium bromide",
            "TIOTROPIUM 18 µg, poudre pour inhalation en gélule",
            "1 inhalation le matin",
            1,
            "inhalation",
        )
    ],
    "sequelles-avc": [
        DrugDef(
            "B01AC04",
            "clopidogrel",
            "CLOPIDOGREL 75 mg, comprimé pelliculé",
            "1 comprimé le midi",
            1,
            "comprimé",
        ),
        DrugDef(
            "C10AA05",
            "atorvastatin",
            "ATORVASTATINE 20 mg, comprimé pelliculé",
            "1 comprimé le soir",
            1,
            "comprimé",
        ),
    ],
    "sla": [
        DrugDef(
            "N07XX02",
            "riluzole",
            "RILUZOLE 50 mg, comprimé pelliculé",
            "1 comprimé matin et soir",
            2,
            "comprimé",
        )
    ],
}


@dataclass(frozen=True)
class AllergyDef:
    category: str
    system: str
    code: str
    display: str
    text: str
    reaction_code: str
    reaction_display: str
    reaction_text: str
    criticality: str
    severity: str


ALLERGIES = [
    AllergyDef(
        "medication",
        ATC,
        "J01C",
        "Beta-lactam antibacterials, penicillins",
        "Pénicillines",
        "126485001",
        "Urticaria",
        "Urticaire généralisée",
        "high",
        "moderate",
    ),
    AllergyDef(
        "medication",
        ATC,
        "J01E",
        "Sulfonamides and trimethoprim",
        "Sulfamides antibactériens",
        "271807003",
        "Eruption of skin",
        "Éruption cutanée",
        "low",
        "mild",
    ),
    AllergyDef(
        "medication",
        ATC,
        "N02BA01",
        "acetylsalicylic acid",
        "Acide acétylsalicylique (aspirine)",
        "41291007",
        "Angioedema",
        "Œdème de Quincke",
        "high",
        "severe",
    ),
    AllergyDef(
        "medication",
        ATC,
        "V08A",
        "X-ray contrast media, iodinated",
        "Produits de contraste iodés",
        "126485001",
        "Urticaria",
        "Urticaire",
        "high",
        "moderate",
    ),
    AllergyDef(
        "food",
        SNOMED,
        "256349002",
        "Peanut (substance)",
        "Arachide",
        "41291007",
        "Angioedema",
        "Œdème des lèvres",
        "high",
        "severe",
    ),
    AllergyDef(
        "food",
        SNOMED,
        "102263004",
        "Eggs (edible) (substance)",
        "Œuf",
        "271807003",
        "Eruption of skin",
        "Eczéma",
        "low",
        "mild",
    ),
]


@dataclass(frozen=True)
class DocTypeDef:
    loinc: str
    loinc_display: str
    title: str
    author_role: str
    ehpad_only: bool = False


# LOINC type codes taken from JDV_J07 (french-interop.md §4), except 11488-4 (Consult note).
DOC_TYPES = [
    DocTypeDef("11488-4", "Consult note", "Compte rendu de consultation", "medco"),
    DocTypeDef(
        "34842-5", "Grille d'évaluation médico-sociale", "Évaluation de l'autonomie (grille AGGIR)", "idec"
    ),
    DocTypeDef(
        "80788-3",
        "Projet personnalisé d'accompagnement",
        "Projet personnalisé d'accompagnement",
        "idec",
        ehpad_only=True,
    ),
    DocTypeDef(
        "11506-3",
        "CR ou fiche de suivi de soins par auxiliaire médical",
        "Bilan d'ergothérapie",
        "ergo",
        ehpad_only=True,
    ),
    DocTypeDef(
        "88348-8",
        "Lettre de liaison d'entrée en structure sociale ou médico-sociale",
        "Lettre de liaison d'entrée",
        "medco",
        ehpad_only=True,
    ),
]

GOALS = [
    "Maintenir l'autonomie à la marche",
    "Prévenir les chutes",
    "Maintenir un poids stable et une alimentation plaisir",
    "Préserver les liens familiaux",
    "Stimuler les fonctions cognitives",
    "Favoriser la participation à la vie sociale de l'établissement",
    "Soulager les douleurs articulaires",
    "Maintenir l'autonomie pour la prise des repas",
    "Améliorer la qualité du sommeil",
]
ACTIVITIES = [
    ("Atelier mémoire hebdomadaire", "Tous les mardis de 14 h 30 à 15 h 30", "psy"),
    ("Aide à la toilette quotidienne", "Tous les matins", "as"),
    ("Promenade accompagnée au parc", "Trois après-midi par semaine, selon la météo", "as"),
    ("Séance de gymnastique douce", "Le lundi et le jeudi à 10 h 30", "ergo"),
    ("Atelier cuisine thérapeutique", "Un vendredi sur deux", "ergo"),
    ("Accompagnement aux repas en salle à manger", "Midi et soir", "as"),
    ("Pesée mensuelle et suivi nutritionnel", "Le premier lundi du mois", "ide"),
    ("Entretien individuel avec la psychologue", "Une fois par mois", "psy"),
    ("Appel vidéo avec la famille", "Le dimanche après-midi", "as"),
    ("Atelier musique et chant", "Le mercredi à 15 h", "psy"),
]


@dataclass(frozen=True)
class RoleDef:
    key: str
    label_male: str
    label_female: str
    profession_system: str | None
    profession_code: str | None
    profession_display: str | None
    has_rpps: bool
    prefix: str | None = None

    def label(self, gender: str) -> str:
        return self.label_female if gender == "female" else self.label_male


# Profession codes: TRE_G15 (médecin 10, infirmier 60, ergothérapeute 94); aide-soignant: TRE_R85 #313 because
# TRE_G15 #35 is deprecated since 2024-12; psychologue: TRE_G15 #93 is deprecated, so plain text only.
ROLES: dict[str, RoleDef] = {
    r.key: r
    for r in [
        RoleDef(
            "medco",
            "Médecin coordonnateur",
            "Médecin coordonnatrice",
            TRE_G15_PROFESSION,
            "10",
            "Médecin",
            True,
            "Dr",
        ),
        RoleDef(
            "idec",
            "Infirmier coordinateur (IDEC)",
            "Infirmière coordinatrice (IDEC)",
            TRE_G15_PROFESSION,
            "60",
            "Infirmier",
            True,
        ),
        RoleDef(
            "ide",
            "Infirmier diplômé d'État",
            "Infirmière diplômée d'État",
            TRE_G15_PROFESSION,
            "60",
            "Infirmier",
            True,
        ),
        RoleDef("as", "Aide-soignant", "Aide-soignante", TRE_R85_ROLE, "313", "Aide-soignant", False),
        RoleDef("psy", "Psychologue", "Psychologue", None, None, None, False),
        RoleDef("ergo", "Ergothérapeute", "Ergothérapeute", TRE_G15_PROFESSION, "94", "Ergothérapeute", True),
    ]
}

# Functional role of each staff role (JDV_J47-FunctionCode-CISIS, TRE_R85 part): coordinators coordinate the
# usager's path, the others are members of the care team.
ROLE_FUNCTIONS: dict[str, tuple[str, str]] = {
    "medco": ("330", "Coordonnateur de parcours"),
    "idec": ("330", "Coordonnateur de parcours"),
    "ide": ("353", "Membre de l'équipe de soins"),
    "as": ("353", "Membre de l'équipe de soins"),
    "psy": ("353", "Membre de l'équipe de soins"),
    "ergo": ("353", "Membre de l'équipe de soins"),
}
TDDUI_PROFESSION_EXTENSION = "https://interop.esante.gouv.fr/ig/fhir/tddui/StructureDefinition/tddui-profession"

# (relationship code, v3 display, TRE_R216 display, French text, gender)
RELATIONS: dict[str, tuple[str, str, str, str]] = {
    "DAU": ("natural daughter", "Fille biologique", "Fille", "female"),
    "SON": ("natural son", "Fils biologique", "Fils", "male"),
    "NIECE": ("niece", "Nièce", "Nièce", "female"),
    "NEPHEW": ("nephew", "Neveu", "Neveu", "male"),
    "GRNDDAU": ("granddaughter", "Petite-fille", "Petite-fille", "female"),
    "GRNDSO": ("grandson", "Petit-fils", "Petit-fils", "male"),
}
AIDANT_ROLES = {
    "CAREGIVER": "Aidant",
    "NOK": "Personne de confiance",
    "ECON": "Personne à prévenir",
}


# ----------------------------------------------------------------------------------------------------------
# Generator
# ----------------------------------------------------------------------------------------------------------
@dataclass
class _Structure:
    key: str
    org_id: str
    name: str
    team: str  # "l'équipe de l'EHPAD ..." -- French article depends on the structure name
    finess: str
    commune: Commune
    line: str
    phone: str
    email: str
    units: list[tuple[str, str, str]]  # (location id, name, description)
    staff: dict[str, list[str]] = field(default_factory=dict)  # role key -> practitioner ids

    @property
    def local_prefix(self) -> str:
        # TDDUI local identifiers are "3" + FINESS + "/" + local id.
        return f"3{self.finess}"


@dataclass
class _Staff:
    pid: str
    role: RoleDef
    gender: str
    given: str
    family: str
    structure: _Structure

    @property
    def display(self) -> str:
        prefix = f"{self.role.prefix} " if self.role.prefix else ""
        return f"{prefix}{self.given} {self.family}"

    @property
    def role_id(self) -> str:
        return f"{self.pid}-role"


@dataclass
class _Usager:
    pid: str
    index: int
    structure: _Structure
    gender: str
    given: list[str]
    birth_family: str
    used_family: str | None
    birth_date: date
    birth_commune: Commune
    marital: str
    has_ins: bool
    admission: date
    unit_id: str
    local_id: str
    nir: str | None = None
    conditions: list[str] = field(default_factory=list)
    onsets: dict[str, date] = field(default_factory=dict)
    address: dict[str, Any] = field(default_factory=dict)
    aidants: list[str] = field(default_factory=list)

    @property
    def family(self) -> str:
        return self.used_family or self.birth_family

    @property
    def civility(self) -> str:
        return "Mme" if self.gender == "female" else "M."

    @property
    def display(self) -> str:
        return f"{self.civility} {self.given[0]} {self.family}"


class _DemoBuilder:
    """Builds the resources in dependency order; all randomness comes from one seeded ``random.Random``."""

    # Types in the order the entries are emitted: referenced resources come before referencing ones.
    TYPE_ORDER = [
        "Organization",
        "Location",
        "Practitioner",
        "PractitionerRole",
        "Patient",
        "RelatedPerson",
        "Encounter",
        "Condition",
        "AllergyIntolerance",
        "Observation",
        "MedicationStatement",
        "Goal",
        "Consent",
        "CareTeam",
        "CarePlan",
        "DocumentReference",
        "Immunization",
    ]

    def __init__(self, seed: int, usagers: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.n_usagers = usagers
        self.resources: dict[str, list[Resource]] = {rt: [] for rt in self.TYPE_ORDER}
        self.staff: dict[str, _Staff] = {}
        self.used_rpps: set[str] = set()
        self.used_nir: set[str] = set()
        self.phone_counter = 0

    # -- utilities -------------------------------------------------------------------------------------------
    def add(self, resource: Resource) -> Resource:
        self.resources[resource["resourceType"]].append(resource)
        return resource

    def random_date(self, start: date, end: date) -> date:
        return date.fromordinal(self.rng.randint(start.toordinal(), end.toordinal()))

    def fiction_phone(self, mobile: bool = False) -> str:
        # ARCEP numbers reserved for fiction: 04 65 71 xx xx (landline, south-east), 06 39 98 xx xx (mobile).
        self.phone_counter += 1
        suffix = f"{self.phone_counter:04d}"
        prefix = "06 39 98" if mobile else "04 65 71"
        return f"{prefix} {suffix[:2]} {suffix[2:]}"

    def new_finess(self, exclude: set[str]) -> str:
        while True:
            payload = "690" + "".join(str(self.rng.randint(0, 9)) for _ in range(5))
            finess = payload + str(_luhn_digit(payload))
            if finess not in exclude:
                return finess

    def new_rpps(self) -> str:
        while True:
            payload = "10" + "".join(str(self.rng.randint(0, 9)) for _ in range(8))
            rpps = payload + str(_luhn_digit(payload))
            if rpps not in self.used_rpps:
                self.used_rpps.add(rpps)
                return rpps

    def new_nir(self, gender: str, birth: date, commune: Commune) -> str:
        while True:
            order = self.rng.randint(1, 999)
            nir13 = (
                f"{1 if gender == 'male' else 2}{birth.year % 100:02d}{birth.month:02d}"
                f"{commune.insee[:2]}{commune.insee[2:]}{order:03d}"
            )
            nir = f"{nir13}{nir_key(nir13):02d}"
            if nir not in self.used_nir:
                self.used_nir.add(nir)
                return nir

    @staticmethod
    def address(commune: Commune, lines: list[str], use: str = "home") -> dict[str, Any]:
        return {
            "extension": [
                {"url": EXT_INSEE_CODE, "valueCoding": _coding(TRE_R13_COMMUNE, commune.insee, commune.label)}
            ],
            "use": use,
            "type": "both",
            "text": f"{', '.join(lines)}, {commune.postal_code} {commune.name}",
            "line": lines,
            "city": commune.name,
            "postalCode": commune.postal_code,
            "country": "France",
        }

    # -- structures ------------------------------------------------------------------------------------------
    def build_structures(self) -> list[_Structure]:
        ehpad_finess = self.new_finess(set())
        ssiad_finess = self.new_finess({ehpad_finess})
        self.ehpad = _Structure(
            key="ehpad",
            org_id="ehpad-les-tilleuls",
            name="EHPAD Les Tilleuls",
            team="l'équipe de l'EHPAD Les Tilleuls",
            finess=ehpad_finess,
            commune=LYON_8,
            line="18 avenue des Tilleuls",
            phone=self.fiction_phone(),
            email="accueil@ehpad-les-tilleuls.example",
            units=[
                (
                    "ehpad-unite-alzheimer",
                    "Unité Alzheimer",
                    "Unité de vie protégée de 14 places pour personnes atteintes de troubles neurocognitifs",
                ),
                ("ehpad-aile-nord", "Aile Nord", "Hébergement permanent, 1er et 2e étages, 32 chambres"),
                ("ehpad-aile-sud", "Aile Sud", "Hébergement permanent et temporaire, 28 chambres"),
            ],
        )
        self.ssiad = _Structure(
            key="ssiad",
            org_id="ssiad-val-de-saone",
            name="SSIAD du Val de Saône",
            team="l'équipe du SSIAD du Val de Saône",
            finess=ssiad_finess,
            commune=NEUVILLE,
            line="4 quai Pierre-Dupont",
            phone=self.fiction_phone(),
            email="secretariat@ssiad-val-de-saone.example",
            units=[
                (
                    "ssiad-antenne-neuville",
                    "Antenne de Neuville-sur-Saône",
                    "Secteur rive gauche : Neuville, Genay, Montanay, Fleurieu, Rochetaillée, Fontaines",
                ),
                (
                    "ssiad-antenne-trevoux",
                    "Antenne de Trévoux",
                    "Secteur Ain : Trévoux, Reyrieux, Parcieux, Massieux",
                ),
            ],
        )
        structures = [self.ehpad, self.ssiad]
        for structure in structures:
            self.add(self.organization(structure))
        for structure in structures:
            for unit_id, name, description in structure.units:
                self.add(self.location(structure, unit_id, name, description))
        return structures

    def organization(self, s: _Structure) -> Resource:
        if s.key == "ehpad":
            category = _cc(
                TRE_R66_CATEGORIE,
                "500",
                "Etablissement d'hébergement pour personnes âgées dépendantes",
                "EHPAD – établissement d'hébergement pour personnes âgées dépendantes",
            )
        else:
            category = _cc(
                TRE_R66_CATEGORIE,
                "354",
                "Service de Soins Infirmiers A Domicile (S.S.I.A.D)",
                "SSIAD – service de soins infirmiers à domicile",
            )
        return {
            "resourceType": "Organization",
            "id": s.org_id,
            "meta": {"profile": [PROFILE_ORGANIZATION]},
            "identifier": [
                {
                    "use": "official",
                    "type": _cc(FR_CORE_V2_0203, "IDNST", "Identifiant National de Structure"),
                    "system": IDNST_SYSTEM,
                    "value": f"1{s.finess}",
                },
                {
                    "type": _cc(FR_CORE_V2_0203, "FINEG", "FINESS d'entité géographique"),
                    "system": FINESS_SYSTEM,
                    "value": s.finess,
                },
            ],
            "active": True,
            "type": [category],
            "name": s.name,
            "telecom": [
                {"system": "phone", "value": s.phone, "use": "work"},
                {"system": "email", "value": s.email, "use": "work"},
            ],
            "address": [self.address(s.commune, [s.line], use="work")],
        }

    def location(self, s: _Structure, unit_id: str, name: str, description: str) -> Resource:
        physical = {
            "ehpad-unite-alzheimer": ("wa", "Ward"),
            "ehpad-aile-nord": ("wi", "Wing"),
            "ehpad-aile-sud": ("wi", "Wing"),
        }.get(unit_id, ("bu", "Building"))
        resource: Resource = {
            "resourceType": "Location",
            "id": unit_id,
            "status": "active",
            "name": name,
            "description": description,
            "mode": "instance",
            "physicalType": _cc(
                "http://terminology.hl7.org/CodeSystem/location-physical-type", physical[0], physical[1]
            ),
            "managingOrganization": _ref("Organization", s.org_id, s.name),
        }
        if s.key == "ehpad":
            resource["address"] = self.address(s.commune, [s.line, name], use="work")
        else:
            commune = TREVOUX if unit_id.endswith("trevoux") else NEUVILLE
            line = "2 montée du Parlement" if commune is TREVOUX else s.line
            resource["address"] = self.address(commune, [line], use="work")
        return resource

    # -- staff -----------------------------------------------------------------------------------------------
    def build_staff(self) -> None:
        plan = [
            (self.ehpad, ["medco", "idec", "ide", "ide", "ide", "as", "as", "as", "psy", "ergo"]),
            (self.ssiad, ["idec", "ide", "ide", "as", "as"]),
        ]
        used_names: set[tuple[str, str]] = set()
        for structure, roles in plan:
            for number, role_key in enumerate(roles, start=1):
                role = ROLES[role_key]
                while True:
                    gender = "female" if self.rng.random() < 0.75 else "male"
                    pool = STAFF_FEMALE_GIVEN if gender == "female" else STAFF_MALE_GIVEN
                    given, family = self.rng.choice(pool), self.rng.choice(FAMILY_NAMES)
                    if (given, family) not in used_names:
                        used_names.add((given, family))
                        break
                staff = _Staff(f"{structure.key}-pro-{number:03d}", role, gender, given, family, structure)
                self.staff[staff.pid] = staff
                structure.staff.setdefault(role_key, []).append(staff.pid)
                unit_id = structure.units[(number - 1) % len(structure.units)][0]
                self.add(self.practitioner(staff))
                self.add(self.practitioner_role(staff, unit_id))

    def practitioner(self, st: _Staff) -> Resource:
        domain = st.structure.email.split("@", 1)[1]
        identifiers: list[dict[str, Any]] = []
        if st.role.has_rpps:
            rpps = self.new_rpps()
            identifiers = [
                {
                    "use": "official",
                    "type": _cc(FR_CORE_V2_0203, "IDNPS", "Identifiant National de Professionnel de Santé"),
                    "system": IDNPS_SYSTEM,
                    "value": f"8{rpps}",
                },
                {"type": _cc(FR_CORE_V2_0203, "RPPS", "N° RPPS"), "system": RPPS_SYSTEM, "value": rpps},
            ]
        identifiers.append(
            {"use": "secondary", "system": f"{DEMO_ID_BASE}/personnel", "value": st.pid.upper()}
        )
        name: dict[str, Any] = {"use": "official", "family": st.family, "given": [st.given]}
        if st.role.prefix:
            # prefix is the civilité (JDV_J245: M / MME, required by tddui-human-name); the title goes in suffix
            name["prefix"] = ["MME" if st.gender == "female" else "M"]
            name["suffix"] = [st.role.prefix]
        resource: Resource = {
            "resourceType": "Practitioner",
            "id": st.pid,
            "meta": {"profile": [PROFILE_PRACTITIONER]},
            "identifier": identifiers,
            "active": True,
            "name": [name],
            "telecom": [
                {
                    "system": "email",
                    "value": f"{_ascii_slug(st.given)}.{_ascii_slug(st.family)}@{domain}",
                    "use": "work",
                }
            ],
            "gender": st.gender,
        }
        if st.role.profession_system == TRE_G15_PROFESSION and st.role.profession_code:
            resource["qualification"] = [
                {
                    "code": _cc(
                        TRE_G15_PROFESSION,
                        st.role.profession_code,
                        st.role.profession_display,
                        st.role.profession_display,
                    )
                }
            ]
        return resource

    def practitioner_role(self, st: _Staff, unit_id: str) -> Resource:
        # code.coding: the functional role from JDV_J47 (required by tddui-practitioner-role); the profession
        # goes in code's tddui-profession extension.
        function_code, function_display = ROLE_FUNCTIONS[st.role.key]
        code: dict[str, Any] = {
            "coding": [_coding(TRE_R85_ROLE, function_code, function_display)],
            "text": st.role.label(st.gender),
        }
        if st.role.profession_system and st.role.profession_code:
            code["extension"] = [
                {
                    "url": TDDUI_PROFESSION_EXTENSION,
                    "valueCodeableConcept": _cc(
                        st.role.profession_system, st.role.profession_code, st.role.profession_display
                    ),
                }
            ]
        start = self.random_date(date(2012, 1, 1), date(2024, 12, 31))
        return {
            "resourceType": "PractitionerRole",
            "id": st.role_id,
            "active": True,
            "period": {"start": start.isoformat()},
            "practitioner": _ref("Practitioner", st.pid, st.display),
            "organization": _ref("Organization", st.structure.org_id, st.structure.name),
            "code": [code],
            "location": [_ref("Location", unit_id)],
            "telecom": [{"system": "phone", "value": st.structure.phone, "use": "work"}],
        }

    def pick_staff(self, structure: _Structure, role_key: str) -> _Staff:
        return self.staff[self.rng.choice(structure.staff[role_key])]

    def first_staff(self, structure: _Structure, role_key: str) -> _Staff:
        return self.staff[structure.staff[role_key][0]]

    # -- usagers ---------------------------------------------------------------------------------------------
    def build_usagers(self) -> list[_Usager]:
        n_ehpad = round(self.n_usagers * 0.7)
        n_ssiad = self.n_usagers - n_ehpad
        # About half of the usagers carry a qualified INS; the two young Corsican SSIAD usagers always do.
        ins_indexes = set(self.rng.sample(range(self.n_usagers), self.n_usagers // 2))
        usagers: list[_Usager] = []
        for i in range(n_ehpad):
            usagers.append(self.new_usager(self.ehpad, i + 1, i in ins_indexes, young_corsican=None))
        for j in range(n_ssiad):
            corsican = CORSICA_COMMUNES[j] if j < len(CORSICA_COMMUNES) else None
            has_ins = (n_ehpad + j) in ins_indexes or corsican is not None
            usagers.append(self.new_usager(self.ssiad, j + 1, has_ins, young_corsican=corsican))
        return usagers

    def new_usager(
        self, s: _Structure, number: int, has_ins: bool, young_corsican: Commune | None
    ) -> _Usager:
        rng = self.rng
        gender = "female" if rng.random() < (0.72 if s.key == "ehpad" else 0.6) else "male"
        if young_corsican is not None:
            gender = "female" if number % 2 else "male"
        pool, middles = (FEMALE_GIVEN, FEMALE_MIDDLE) if gender == "female" else (MALE_GIVEN, MALE_MIDDLE)
        if young_corsican is not None:  # born around 1980: first names of that generation
            pool = AIDANT_FEMALE_GIVEN if gender == "female" else AIDANT_MALE_GIVEN
        first = rng.choice(pool)
        given = [first] + [m for m in rng.sample(middles, rng.randint(0, 2)) if m != first]
        birth_family = rng.choice(FAMILY_NAMES)
        if young_corsican is not None:
            birth = self.random_date(date(1977, 1, 1), date(1982, 12, 31))
            marital = "S"
            commune = young_corsican
        else:
            if s.key == "ehpad":
                oldest, youngest = 100, 75
            else:
                oldest, youngest = 97, 62
            birth = self.random_date(
                _add_years(REFERENCE_DATE, -oldest) + timedelta(days=1),
                _add_years(REFERENCE_DATE, -youngest),
            )
            weights = [55, 25, 10, 10] if gender == "female" else [35, 45, 10, 10]
            marital = rng.choices(["W", "M", "S", "D"], weights=weights)[0]
            commune = rng.choice(BIRTH_COMMUNES)
        used_family = None
        if gender == "female" and marital in ("W", "M") and rng.random() < 0.85:
            used_family = rng.choice([f for f in FAMILY_NAMES if f != birth_family])
        if s.key == "ehpad":
            admission = self.random_date(date(2019, 1, 7), REFERENCE_DATE - timedelta(days=150))
        else:
            admission = self.random_date(
                REFERENCE_DATE - timedelta(days=900), REFERENCE_DATE - timedelta(days=130)
            )
        usager = _Usager(
            pid=f"{s.key}-usager-{number:03d}",
            index=number,
            structure=s,
            gender=gender,
            given=given,
            birth_family=birth_family,
            used_family=used_family,
            birth_date=birth,
            birth_commune=commune,
            marital=marital,
            has_ins=has_ins,
            admission=admission,
            unit_id=s.units[0][0],
            local_id=f"{admission.year}{number:04d}",
        )
        # Clinical profile: Alzheimer for ~35 % of EHPAD residents (housed in the Alzheimer unit).
        if young_corsican is not None:
            usager.conditions = ["sclerose-en-plaques" if number == 1 else "sla"]
        else:
            count = rng.randint(1, 3)
            keys: list[str] = []
            if s.key == "ehpad" and rng.random() < 0.35:
                keys.append("alzheimer")
            while len(keys) < count + (1 if keys else 0):
                key = rng.choice(RANDOM_CONDITION_KEYS)
                if key not in keys:
                    keys.append(key)
            usager.conditions = keys
        if s.key == "ehpad":
            if "alzheimer" in usager.conditions:
                usager.unit_id = "ehpad-unite-alzheimer"
            else:
                usager.unit_id = rng.choice(["ehpad-aile-nord", "ehpad-aile-sud"])
        else:
            usager.unit_id = (
                "ssiad-antenne-trevoux" if commune.insee.startswith("01") else "ssiad-antenne-neuville"
            )
        if has_ins:
            usager.nir = self.new_nir(gender, birth, commune)
        return usager

    def patient(self, u: _Usager) -> Resource:
        s = u.structure
        status_code, status_display = (
            ("VALI", "Identité validée") if u.has_ins else ("PROV", "Identité provisoire")
        )
        extensions: list[dict[str, Any]] = [
            {
                "url": EXT_IDENTITY_RELIABILITY,
                "extension": [
                    {
                        "url": "identityStatus",
                        "valueCoding": _coding(FR_CORE_V2_0445, status_code, status_display),
                    }
                ],
            },
            {
                "url": EXT_BIRTH_PLACE,
                "valueAddress": {
                    "extension": [
                        {
                            "url": EXT_INSEE_CODE,
                            "valueCoding": _coding(
                                TRE_R13_COMMUNE, u.birth_commune.insee, u.birth_commune.label
                            ),
                        }
                    ],
                    "city": u.birth_commune.name,
                    "country": "FRA",
                },
            },
        ]
        identifiers: list[dict[str, Any]] = []
        if u.has_ins and u.nir:
            identifiers.append(
                {
                    "use": "official",
                    "type": _cc(FR_CORE_V2_0203, "INS-NIR-TEST", "NIR de test"),
                    "system": INS_NIR_TEST_SYSTEM,
                    "value": u.nir,
                }
            )
        identifiers.append(
            {
                "use": "usual",
                "type": _cc(V2_0203, "PI", "Patient internal identifier"),
                "system": LOCAL_USAGER_SYSTEM,
                "value": f"{s.local_prefix}/{u.local_id}",
            }
        )
        names: list[dict[str, Any]] = [
            {
                "extension": [{"url": EXT_BIRTH_LIST_GIVEN_NAME, "valueString": " ".join(u.given)}],
                "use": "official",
                "family": u.birth_family,
                "given": [u.given[0]],
            }
        ]
        if u.used_family:
            names.append({"use": "usual", "family": u.used_family, "given": [u.given[0]]})
        if s.key == "ehpad":
            room = {"ehpad-unite-alzheimer": 300, "ehpad-aile-nord": 100, "ehpad-aile-sud": 200}[
                u.unit_id
            ] + u.index
            address = self.address(s.commune, [s.line, f"Chambre {room}"])
            telecom = [{"system": "phone", "value": self.fiction_phone(), "use": "home"}]
        else:
            commune = self.rng.choice(
                SSIAD_COMMUNES[11:] if u.unit_id.endswith("trevoux") else SSIAD_COMMUNES[:11]
            )
            address = self.address(commune, [f"{self.rng.randint(1, 120)} {self.rng.choice(STREETS)}"])
            telecom = [{"system": "phone", "value": self.fiction_phone(), "use": "home"}]
            if self.rng.random() < 0.4:
                telecom.append({"system": "phone", "value": self.fiction_phone(mobile=True), "use": "mobile"})
        u.address = address
        marital_display = {"W": "Widowed", "M": "Married", "S": "Never Married", "D": "Divorced"}[u.marital]
        marital_text = {
            "W": "Veuve" if u.gender == "female" else "Veuf",
            "M": "Mariée" if u.gender == "female" else "Marié",
            "S": "Célibataire",
            "D": "Divorcée" if u.gender == "female" else "Divorcé",
        }[u.marital]
        resource: Resource = {
            "resourceType": "Patient",
            "id": u.pid,
            "meta": {"profile": [PROFILE_PATIENT_INS if u.has_ins else PROFILE_PATIENT]},
            "extension": extensions,
            "identifier": identifiers,
            "active": True,
            "name": names,
            "telecom": telecom,
            "gender": u.gender,
            "birthDate": u.birth_date.isoformat(),
        }
        if not u.has_ins:
            # No NIR: TDDUI Patient requires the civil-status birth order (the NIR's digits 11-13 otherwise).
            resource["_birthDate"] = {
                "extension": [{"url": EXT_TDDUI_BIRTH_ORDER, "valuePositiveInt": self.birth_order(u)}]
            }
        return resource | {
            "address": [address],
            "maritalStatus": _cc(V3_MARITAL, u.marital, marital_display, marital_text),
            "communication": [
                {"language": _cc(BCP47, "fr-FR", "French (France)", "Français"), "preferred": True}
            ],
            "managingOrganization": _ref("Organization", s.org_id, s.name),
        }

    def birth_order(self, u: _Usager) -> int:
        """Civil-status birth order (1-999) of a usager without NIR: hashed from the seed and the id, so that
        adding it does not shift the random sequence of the rest of the data set."""
        digest = hashlib.sha256(f"{self.seed}:birth-order:{u.pid}".encode()).digest()
        return int.from_bytes(digest[:4], "big") % 999 + 1

    # -- aidants ---------------------------------------------------------------------------------------------
    def aidants(self, u: _Usager) -> list[Resource]:
        rng = self.rng
        plans: list[str] = []
        if u.marital == "M":
            plans.append("SPS")
        elif u.marital == "S":
            plans.append(rng.choice(["NIECE", "NEPHEW"]))
        else:
            plans.append(rng.choice(["DAU", "DAU", "SON"]))
        if rng.random() < 0.5:
            second = rng.choice(
                ["DAU", "SON", "GRNDDAU", "GRNDSO"] if u.marital != "S" else ["NIECE", "NEPHEW"]
            )
            if second != plans[0]:
                plans.append(second)
        resources = []
        for number, code in enumerate(plans, start=1):
            resources.append(self.related_person(u, number, code))
        return resources

    def related_person(self, u: _Usager, number: int, code: str) -> Resource:
        rng = self.rng
        if code == "SPS":
            gender = "male" if u.gender == "female" else "female"
            v3_display, r216_display = "spouse", "Epoux ou épouse"
            text = "Épouse" if gender == "female" else "Époux"
            family = u.family
        else:
            v3_display, r216_display, text, gender = RELATIONS[code]
            if code in ("NIECE", "NEPHEW"):
                family = rng.choice(FAMILY_NAMES)
            elif gender == "female" and rng.random() < 0.5:
                family = rng.choice(FAMILY_NAMES)  # married daughter / granddaughter using her spouse's name
            else:
                family = u.family
        pool = AIDANT_FEMALE_GIVEN if gender == "female" else AIDANT_MALE_GIVEN
        given = rng.choice(pool)
        if code == "SPS":
            given = rng.choice(FEMALE_GIVEN if gender == "female" else MALE_GIVEN)
        roles = ["CAREGIVER"]
        if number == 1 and rng.random() < 0.7:
            roles.append("NOK")
        if number > 1 and rng.random() < 0.6:
            roles = ["ECON"]
        # FR Core RelatedPerson allows one Role (relationship[Role] 0..1, JDV_J384): the personne de confiance
        # role wins over "aidant" (the aidant role is also carried by the care circle, CareTeam.participant).
        role = "NOK" if "NOK" in roles else roles[0]
        relationship = [_cc(TRE_R260_ROLE_CLASS, role, AIDANT_ROLES[role], AIDANT_ROLES[role])]
        relationship.append(
            {
                "coding": [
                    _coding(V3_ROLE_CODE, code, v3_display),
                    _coding(TRE_R216_ROLE_CODE, code, r216_display),
                ],
                "text": text,
            }
        )
        rid = f"{u.pid}-aidant-{number}"
        u.aidants.append(rid)
        telecom = [{"system": "phone", "value": self.fiction_phone(mobile=True), "use": "mobile"}]
        if rng.random() < 0.7:
            telecom.append(
                {
                    "system": "email",
                    "value": f"{_ascii_slug(given)}.{_ascii_slug(family)}@courriel.example",
                    "use": "home",
                }
            )
        commune = rng.choice(BIRTH_COMMUNES[:14] + SSIAD_COMMUNES)
        resource: Resource = {
            "resourceType": "RelatedPerson",
            "id": rid,
            "meta": {"profile": [PROFILE_RELATED_PERSON]},
            "identifier": [
                {
                    "system": f"{DEMO_ID_BASE}/aidant",
                    "value": f"{u.structure.local_prefix}/{u.local_id}-{number}",
                }
            ],
            "active": True,
            "patient": _ref("Patient", u.pid, u.display),
            "relationship": relationship,
            "name": [{"use": "usual", "family": family, "given": [given]}],
            "telecom": telecom,
            "gender": gender,
        }
        if code == "SPS" and u.structure.key == "ssiad":
            resource["address"] = [dict(u.address)]  # the spouse lives with the usager
        else:
            resource["address"] = [self.address(commune, [f"{rng.randint(1, 90)} {rng.choice(STREETS)}"])]
        return resource

    # -- stay, clinical data ---------------------------------------------------------------------------------
    def encounter(self, u: _Usager) -> Resource:
        s = u.structure
        if s.key == "ehpad":
            klass = _coding(V3_ACT_CODE, "NONAC", "inpatient non-acute")
            type_text = "Hébergement permanent en EHPAD"
        else:
            klass = _coding(V3_ACT_CODE, "HH", "home health")
            type_text = "Prise en charge en soins infirmiers à domicile"
        referent = self.first_staff(s, "idec")
        if s.key == "ssiad":
            modality = ("05", "Visite à domicile")
        elif u.unit_id == "ehpad-unite-alzheimer":
            modality = ("20", "Accueil en unité protégée")
        else:
            modality = ("03", "En présentiel")
        return {
            "resourceType": "Encounter",
            "id": f"{u.pid}-sejour",
            "identifier": [
                {
                    "type": _cc(TDDUI_ENCOUNTER_IDENTIFIER, "SEJ", "Identifiant du séjour"),
                    "system": SEJOUR_SYSTEM,
                    "value": f"{s.local_prefix}/{u.local_id}-SEJOUR-1",
                }
            ],
            "status": "in-progress",
            "class": klass,
            "type": [{"text": type_text}],
            "serviceType": _cc(TRE_R338_MODALITE_ACCUEIL, modality[0], modality[1]),
            "subject": _ref("Patient", u.pid, u.display),
            "participant": [
                {
                    "type": [
                        _cc(V3_PARTICIPATION, "PPRF", "primary performer", "Référent de la prise en charge")
                    ],
                    "individual": _ref("PractitionerRole", referent.role_id, referent.display),
                }
            ],
            "period": {"start": _instant(u.admission, 10, 0)},
            "location": [{"location": _ref("Location", u.unit_id), "status": "active"}],
            "serviceProvider": _ref("Organization", s.org_id, s.name),
        }

    def recorder(self, u: _Usager) -> _Staff:
        return self.first_staff(u.structure, "medco" if u.structure.key == "ehpad" else "idec")

    def conditions(self, u: _Usager) -> list[Resource]:
        out = []
        recorder = self.recorder(u)
        for key in u.conditions:
            c = CONDITIONS[key]
            years_before = self.rng.randint(1, 12)
            onset = u.admission.replace(
                year=max(u.admission.year - years_before, u.birth_date.year + 30), day=1
            )
            u.onsets[key] = onset
            out.append(
                {
                    "resourceType": "Condition",
                    "id": f"{u.pid}-{key}",
                    "clinicalStatus": _cc(
                        "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "active",
                        "Active",
                        "Active",
                    ),
                    "verificationStatus": _cc(
                        "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                        "confirmed",
                        "Confirmed",
                        "Confirmé",
                    ),
                    "category": [
                        _cc(
                            "http://terminology.hl7.org/CodeSystem/condition-category",
                            "problem-list-item",
                            "Problem List Item",
                            "Problème de santé",
                        )
                    ],
                    "code": {
                        "coding": [
                            _coding(SNOMED, c.snomed, c.snomed_display),
                            _coding(ICD10, c.icd10, c.icd10_display),
                        ],
                        "text": c.text,
                    },
                    "subject": _ref("Patient", u.pid, u.display),
                    "onsetDateTime": onset.isoformat(),
                    "recordedDate": u.admission.isoformat(),
                    "recorder": _ref("Practitioner", recorder.pid, recorder.display),
                }
            )
        return out

    def allergies(self, u: _Usager) -> list[Resource]:
        if self.rng.random() >= 0.35:
            return []
        recorder = self.recorder(u)
        chosen = self.rng.sample(ALLERGIES, 2 if self.rng.random() < 0.2 else 1)
        out = []
        for number, a in enumerate(chosen, start=1):
            out.append(
                {
                    "resourceType": "AllergyIntolerance",
                    "id": f"{u.pid}-allergie-{number}",
                    "clinicalStatus": _cc(
                        "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                        "active",
                        "Active",
                        "Active",
                    ),
                    "verificationStatus": _cc(
                        "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                        "confirmed",
                        "Confirmed",
                        "Confirmée",
                    ),
                    "type": "allergy",
                    "category": [a.category],
                    "criticality": a.criticality,
                    "code": _cc(a.system, a.code, a.display, a.text),
                    "patient": _ref("Patient", u.pid, u.display),
                    "recordedDate": u.admission.isoformat(),
                    "recorder": _ref("Practitioner", recorder.pid, recorder.display),
                    "reaction": [
                        {
                            "manifestation": [
                                _cc(SNOMED, a.reaction_code, a.reaction_display, a.reaction_text)
                            ],
                            "severity": a.severity,
                        }
                    ],
                    "note": [
                        {"text": "Allergie signalée par la famille et confirmée par le médecin traitant."}
                    ],
                }
            )
        return out

    def observations(self, u: _Usager) -> list[Resource]:
        rng = self.rng
        s = u.structure
        nurse = self.pick_staff(s, "ide")
        out: list[Resource] = []
        base_weight = rng.uniform(44.0, 72.0) if u.gender == "female" else rng.uniform(55.0, 88.0)
        for number, days_before in enumerate((75, 45, 15), start=1):
            day = REFERENCE_DATE - timedelta(days=days_before + rng.randint(0, 4))
            weight = round(base_weight + rng.uniform(-1.2, 1.2) - 0.3 * number, 1)
            out.append(
                {
                    "resourceType": "Observation",
                    "id": f"{u.pid}-poids-{number}",
                    "status": "final",
                    "category": [self.vital_signs_category()],
                    "code": {"coding": [_coding(LOINC, "29463-7", "Body weight")], "text": "Poids"},
                    "subject": _ref("Patient", u.pid, u.display),
                    "effectiveDateTime": _instant(day, 8, rng.choice([0, 15, 30, 45])),
                    "performer": [_ref("PractitionerRole", nurse.role_id, nurse.display)],
                    "valueQuantity": {"value": weight, "unit": "kg", "system": UCUM, "code": "kg"},
                }
            )
        hypertensive = "hta" in u.conditions
        for number, days_before in enumerate((60, 30, 5), start=1):
            day = REFERENCE_DATE - timedelta(days=days_before + rng.randint(0, 3))
            systolic = rng.randint(135, 165) if hypertensive else rng.randint(110, 140)
            diastolic = rng.randint(70, 95) if hypertensive else rng.randint(60, 85)
            out.append(
                {
                    "resourceType": "Observation",
                    "id": f"{u.pid}-tension-{number}",
                    "status": "final",
                    "category": [self.vital_signs_category()],
                    "code": {
                        "coding": [
                            _coding(LOINC, "85354-9", "Blood pressure panel with all children optional")
                        ],
                        "text": "Pression artérielle",
                    },
                    "subject": _ref("Patient", u.pid, u.display),
                    "effectiveDateTime": _instant(day, 9, rng.choice([0, 10, 20, 40])),
                    "performer": [_ref("PractitionerRole", nurse.role_id, nurse.display)],
                    "component": [
                        {
                            "code": {
                                "coding": [_coding(LOINC, "8480-6", "Systolic blood pressure")],
                                "text": "Pression artérielle systolique",
                            },
                            "valueQuantity": {
                                "value": systolic,
                                "unit": "mmHg",
                                "system": UCUM,
                                "code": "mm[Hg]",
                            },
                        },
                        {
                            "code": {
                                "coding": [_coding(LOINC, "8462-4", "Diastolic blood pressure")],
                                "text": "Pression artérielle diastolique",
                            },
                            "valueQuantity": {
                                "value": diastolic,
                                "unit": "mmHg",
                                "system": UCUM,
                                "code": "mm[Hg]",
                            },
                        },
                    ],
                }
            )
        out.append(self.gir_observation(u))
        return out

    @staticmethod
    def vital_signs_category() -> dict[str, Any]:
        return _cc(
            "http://terminology.hl7.org/CodeSystem/observation-category",
            "vital-signs",
            "Vital Signs",
            "Signes vitaux",
        )

    def gir_observation(self, u: _Usager) -> Resource:
        # GIR (groupe iso-ressources, AGGIR grid): coded as in the CI-SIS CDA volets -- observation code LOINC
        # 10210-3 qualified by TA_ASIP MED-346 "Score GIR", value from JDV_GIR_CISIS (TA_ASIP MED-339..MED-344
        # = GIR-1..GIR-6). LOINC has no dedicated GIR code.
        if u.structure.key == "ehpad":
            gir = self.rng.choice([1, 2]) if "alzheimer" in u.conditions else self.rng.choice([2, 3, 3, 4, 4])
            evaluator = self.first_staff(u.structure, "medco")
        else:
            gir = self.rng.choice([2, 3, 4, 4, 5])
            evaluator = self.first_staff(u.structure, "idec")
        day = REFERENCE_DATE - timedelta(days=self.rng.randint(20, 120))
        return {
            "resourceType": "Observation",
            "id": f"{u.pid}-gir",
            "status": "final",
            "category": [
                _cc(
                    "http://terminology.hl7.org/CodeSystem/observation-category",
                    "survey",
                    "Survey",
                    "Évaluation",
                )
            ],
            "code": {
                "coding": [
                    _coding(TA_ASIP, "MED-346", "Score GIR"),
                    _coding(LOINC, "10210-3", "Physical findings of General status Narrative"),
                ],
                "text": "Groupe iso-ressources (GIR) – grille AGGIR",
            },
            "subject": _ref("Patient", u.pid, u.display),
            "effectiveDateTime": _instant(day, 14, 0),
            "performer": [_ref("Practitioner", evaluator.pid, evaluator.display)],
            "valueCodeableConcept": _cc(TA_ASIP, f"MED-{338 + gir}", f"GIR-{gir}", f"GIR {gir}"),
            "method": {"text": "Grille AGGIR (autonomie gérontologie groupes iso-ressources)"},
        }

    def medications(self, u: _Usager) -> list[Resource]:
        out = []
        prescriber = self.recorder(u)
        number = 0
        for key in u.conditions:
            for drug in DRUGS_BY_CONDITION.get(key, []):
                number += 1
                start = self.random_date(u.admission - timedelta(days=700), u.admission + timedelta(days=60))
                start = max(start, u.onsets.get(key, start))
                if drug.dose_unit == "inhalation":
                    route = _cc(SNOMED, "447694001", "Respiratory tract route", "Voie inhalée")
                else:
                    route = _cc(SNOMED, "26643006", "Oral route", "Voie orale")
                out.append(
                    {
                        "resourceType": "MedicationStatement",
                        "id": f"{u.pid}-traitement-{number}",
                        "status": "active",
                        "medicationCodeableConcept": _cc(ATC, drug.atc, drug.atc_display, drug.text),
                        "subject": _ref("Patient", u.pid, u.display),
                        "context": _ref("Encounter", f"{u.pid}-sejour"),
                        "effectivePeriod": {"start": start.isoformat()},
                        "dateAsserted": _instant(u.admission, 11, 0),
                        "informationSource": _ref("Practitioner", prescriber.pid, prescriber.display),
                        "reasonReference": [_ref("Condition", f"{u.pid}-{key}")],
                        "dosage": [
                            {
                                "text": drug.dosage,
                                "timing": {
                                    "repeat": {"frequency": drug.frequency, "period": 1, "periodUnit": "d"}
                                },
                                "route": route,
                                "doseAndRate": [{"doseQuantity": {"value": 1, "unit": drug.dose_unit}}],
                            }
                        ],
                    }
                )
        return out

    # -- projet personnalisé, care circle, consents ----------------------------------------------------------
    def goals(self, u: _Usager, start: date) -> list[Resource]:
        chosen = self.rng.sample(GOALS, 3)
        if "alzheimer" in u.conditions and "Stimuler les fonctions cognitives" not in chosen:
            chosen[0] = "Stimuler les fonctions cognitives"
        out = []
        for number, text in enumerate(chosen, start=1):
            expressed_by = (
                _ref("Patient", u.pid, u.display)
                if number == 1 or not u.aidants
                else _ref("RelatedPerson", u.aidants[0])
            )
            out.append(
                {
                    "resourceType": "Goal",
                    "id": f"{u.pid}-objectif-{number}",
                    "identifier": [
                        {
                            "system": f"{DEMO_ID_BASE}/objectif",
                            "value": f"{u.structure.local_prefix}/{u.local_id}-PPObjectif-{number}",
                        }
                    ],
                    "lifecycleStatus": "active",
                    "achievementStatus": _cc(
                        "http://terminology.hl7.org/CodeSystem/goal-achievement",
                        "in-progress",
                        "In Progress",
                        "En cours",
                    ),
                    "description": {"text": text},
                    "subject": _ref("Patient", u.pid, u.display),
                    "startDate": start.isoformat(),
                    "target": [{"dueDate": _add_years(start, 1).isoformat()}],
                    "expressedBy": expressed_by,
                    "note": [{"text": f"Objectif {number} du projet personnalisé"}],
                }
            )
        return out

    def structure_agreement(self, u: _Usager, day: date) -> Resource:
        s = u.structure
        return {
            "resourceType": "Consent",
            "id": f"{u.pid}-accord-structure",
            "status": "active",
            "scope": _cc(
                "http://terminology.hl7.org/CodeSystem/consentscope",
                "patient-privacy",
                "Privacy Consent",
                "Accord sur le projet personnalisé",
            ),
            "category": [_cc(LOINC, "59284-0", "Consent Document", "Accord de la structure")],
            "patient": _ref("Patient", u.pid, u.display),
            "dateTime": _instant(day, 15, 0),
            "performer": [_ref("Organization", s.org_id, s.name)],
            "organization": [_ref("Organization", s.org_id, s.name)],
            "policy": [{"authority": "https://www.cnsa.fr/"}],
        }

    def delegation_consent(self, u: _Usager) -> Resource:
        s = u.structure
        start = u.admission + timedelta(days=self.rng.randint(3, 40))
        end = max(_add_years(start, 3), _add_years(REFERENCE_DATE, 1))
        aidant = u.aidants[0]
        return {
            "resourceType": "Consent",
            "id": f"{u.pid}-delegation-aidant",
            "status": "active",
            "scope": _cc(
                "http://terminology.hl7.org/CodeSystem/consentscope",
                "patient-privacy",
                "Privacy Consent",
                "Délégation d'accès au dossier",
            ),
            "category": [_cc(LOINC, "59284-0", "Consent Document", "Délégation à un aidant")],
            "patient": _ref("Patient", u.pid, u.display),
            "dateTime": _instant(start, 11, 30),
            "performer": [_ref("Patient", u.pid, u.display)],
            "organization": [_ref("Organization", s.org_id, s.name)],
            "policyRule": _cc(V3_ACT_CODE, "OPTIN", "opt-in", "Consentement exprès de l'usager"),
            "provision": {
                "type": "permit",
                "period": {"start": start.isoformat(), "end": end.isoformat()},
                "actor": [
                    {
                        "role": _cc(V3_PARTICIPATION, "IRCP", "information recipient", "Aidant délégataire"),
                        "reference": _ref("RelatedPerson", aidant),
                    }
                ],
                "action": [
                    _cc(
                        "http://terminology.hl7.org/CodeSystem/consentaction",
                        "access",
                        "Access",
                        "Consultation du dossier",
                    )
                ],
            },
        }

    def care_team(self, u: _Usager) -> Resource:
        s = u.structure
        members: list[tuple[str, str, str]] = []  # (type, id, role text)
        role_keys = ["medco", "idec", "ide", "as"] if s.key == "ehpad" else ["idec", "ide", "as"]
        if "alzheimer" in u.conditions or "depression" in u.conditions:
            role_keys.append("psy")
        for role_key in role_keys:
            if role_key not in s.staff:
                continue
            st = (
                self.first_staff(s, role_key)
                if role_key in ("medco", "idec")
                else self.pick_staff(s, role_key)
            )
            label = st.role.label(st.gender)
            if role_key in ("ide", "as"):
                label = f"{label} référente" if st.gender == "female" else f"{label} référent"
            members.append(("PractitionerRole", st.role_id, label))
        participants: list[dict[str, Any]] = [
            {"role": [{"text": text}], "member": _ref(rt, rid), "period": {"start": u.admission.isoformat()}}
            for rt, rid, text in members
        ]
        for aidant in u.aidants:
            participants.append(
                {
                    "role": [_cc(TRE_R260_ROLE_CLASS, "CAREGIVER", "Aidant", "Aidant")],
                    "member": _ref("RelatedPerson", aidant),
                    "period": {"start": u.admission.isoformat()},
                }
            )
        return {
            "resourceType": "CareTeam",
            "id": f"{u.pid}-cercle-soins",
            "meta": {"profile": [PROFILE_CARETEAM]},
            "identifier": [
                {"system": f"{DEMO_ID_BASE}/cercle-soins", "value": f"{s.local_prefix}/{u.local_id}-CDS"}
            ],
            "status": "active",
            "name": f"Cercle de soins de {u.display}",
            "subject": _ref("Patient", u.pid, u.display),
            "period": {"start": u.admission.isoformat()},
            "participant": participants,
            "managingOrganization": [_ref("Organization", s.org_id, s.name)],
        }

    def care_plan(
        self, u: _Usager, goals: list[Resource], agreement: Resource, start: date, version: int
    ) -> Resource:
        s = u.structure
        author = self.first_staff(s, "medco") if self.rng.random() < 0.5 else self.first_staff(s, "idec")
        review = _add_years(start, 1)  # annual re-evaluation of the projet personnalisé
        activity_defs = self.rng.sample(ACTIVITIES, 3)
        if "alzheimer" in u.conditions and all(a[0] != ACTIVITIES[0][0] for a in activity_defs):
            activity_defs[0] = ACTIVITIES[0]
        activities = []
        for description, schedule, role_key in activity_defs:
            performer = self.pick_staff(s, role_key)
            activities.append(
                {
                    "detail": {
                        "status": "in-progress",
                        "description": description,
                        "scheduledString": schedule,
                        "performer": [_ref("PractitionerRole", performer.role_id, performer.display)],
                    }
                }
            )
        contributors = [_ref("Patient", u.pid, u.display)] + [_ref("RelatedPerson", a) for a in u.aidants[:1]]
        return {
            "resourceType": "CarePlan",
            "id": f"{u.pid}-projet-personnalise",
            "identifier": [
                {"system": PROJET_PERSO_SYSTEM, "value": f"{s.local_prefix}/{u.local_id}-PPER-{version}"}
            ],
            "status": "active",
            "intent": "plan",
            "category": [_cc(TRE_R390_PROJET, "PP", "Projet Personnalisé", "Projet personnalisé")],
            "title": f"Projet personnalisé de {u.display}",
            "description": (f"Projet personnalisé co-construit avec {u.display}, ses proches et {s.team}."),
            "subject": _ref("Patient", u.pid, u.display),
            "encounter": _ref("Encounter", f"{u.pid}-sejour"),
            "period": {"start": start.isoformat(), "end": _add_years(start, 1).isoformat()},
            "created": start.isoformat(),
            "author": _ref("Practitioner", author.pid, author.display),
            "contributor": contributors,
            "careTeam": [_ref("CareTeam", f"{u.pid}-cercle-soins")],
            "addresses": [_ref("Condition", f"{u.pid}-{key}") for key in u.conditions],
            "supportingInfo": [_ref("Consent", agreement["id"], "Consentement structure")],
            "goal": [_ref("Goal", g["id"]) for g in goals],
            "activity": activities,
            "note": [
                {
                    "text": (
                        f"Date de révision prévue : {_format_fr_date(review)}. Modalités de communication : "
                        "projet présenté à l'usager et à sa personne de confiance lors d'un entretien, "
                        "copie remise sur demande."
                    )
                }
            ],
        }

    # -- documents -------------------------------------------------------------------------------------------
    def documents(self, u: _Usager) -> list[Resource]:
        rng = self.rng
        s = u.structure
        candidates = [d for d in DOC_TYPES if s.key == "ehpad" or not d.ehpad_only]
        roll = rng.random()
        count = 0 if roll < 0.4 else (1 if roll < 0.8 else 2)
        out = []
        for number, doc in enumerate(rng.sample(candidates, count), start=1):
            role_key = doc.author_role if doc.author_role in s.staff else "idec"
            author = (
                self.first_staff(s, role_key)
                if role_key in ("medco", "idec")
                else self.pick_staff(s, role_key)
            )
            day = REFERENCE_DATE - timedelta(days=rng.randint(10, 200))
            if doc.loinc == "88348-8":
                day = u.admission
            born = (
                f"née le {_format_fr_date(u.birth_date)}"
                if u.gender == "female"
                else (f"né le {_format_fr_date(u.birth_date)}")
            )
            pdf = minimal_pdf(
                [
                    f"{s.name} – {doc.title}",
                    f"Usager : {u.civility} {' '.join(u.given)} {u.family.upper()}, {born}",
                    f"Date : {_format_fr_date(day)}",
                    f"Auteur : {author.display} ({author.role.label(author.gender)})",
                    "Document de démonstration – données fictives.",
                ]
            )
            doc_id = f"{u.pid}-document-{number}"
            resource: Resource = {
                "resourceType": "DocumentReference",
                "id": doc_id,
                "masterIdentifier": {
                    "system": "urn:ietf:rfc:3986",
                    "value": f"urn:uuid:{uuid.uuid5(_UUID_NAMESPACE, f'{self.seed}:document:{doc_id}')}",
                },
                "status": "current",
                "docStatus": "final",
                "type": {"coding": [_coding(LOINC, doc.loinc, doc.loinc_display)], "text": doc.title},
                "subject": _ref("Patient", u.pid, u.display),
                "date": _instant(day, 16, 0),
                "author": [_ref("PractitionerRole", author.role_id, author.display)],
                "custodian": _ref("Organization", s.org_id, s.name),
                "description": f"{doc.title} – {u.display}",
                "content": [
                    {
                        "attachment": {
                            "contentType": "application/pdf",
                            "language": "fr-FR",
                            "data": base64.b64encode(pdf).decode("ascii"),
                            "size": len(pdf),
                            "hash": base64.b64encode(hashlib.sha1(pdf).digest()).decode("ascii"),
                            "title": f"{doc.title} du {_format_fr_date(day)}",
                            "creation": _instant(day, 15, 30),
                        },
                        "format": _coding(
                            TRE_A11_FORMAT,
                            "urn:ihe:iti:xds-sd:pdf:2008",
                            "Document à corps non structuré en Pdf/A-1",
                        ),
                    }
                ],
                "context": {
                    "encounter": [_ref("Encounter", f"{u.pid}-sejour")],
                    "period": {"start": day.isoformat()},
                    "practiceSetting": {
                        "coding": [_coding(TRE_A01_CADRE, "ESSMS")],
                        "text": "Établissement ou service social ou médico-social",
                    },
                },
            }
            if s.key == "ehpad":
                resource["context"]["facilityType"] = _cc(
                    TRE_R02_SECTEUR,
                    "SA17",
                    "Etablissement pour personnes âgées",
                    "Établissement pour personnes âgées",
                )
            out.append(resource)
        return out

    # -- what the document de liaison d'urgence (DLU-EHPAD) reads ----------------------------------------------
    def _unit(self, u: _Usager, purpose: str) -> float:
        """A number in [0, 1) hashed from the seed, the usager and ``purpose`` (not drawn from ``self.rng``: the
        DLU data came after the rest of the data set and must not shift its random sequence)."""
        digest = hashlib.sha256(f"{self.seed}:{purpose}:{u.pid}".encode()).digest()
        return int.from_bytes(digest[:4], "big") / 2**32

    def dlu_observation(self, u: _Usager, key: str, code: str, display: str, text: str, value: bool,
                        day: date) -> Resource:
        return {
            "resourceType": "Observation",
            "id": f"{u.pid}-dlu-{key}",
            "status": "final",
            "category": [
                _cc("http://terminology.hl7.org/CodeSystem/observation-category", "survey", "Survey", "Évaluation")
            ],
            "code": {"coding": [_coding(SNOMED, code, display)], "text": text},
            "subject": _ref("Patient", u.pid, u.display),
            "effectiveDateTime": _instant(day, 11, 0),
            "performer": [_ref("Practitioner", self.first_staff(u.structure, "medco").pid)],
            "valueBoolean": value,
        }

    def dlu_data(self, u: _Usager) -> list[Resource]:
        """For an EHPAD resident: the DLU observations (peut alerter, orienté / désorienté, chutes — codes of
        JDV_ObservationEtatPatient), the BMR carriage (ICD-10 U83.71), the seasonal flu vaccination and, for
        about a third of them, written advance directives (Consent scope ``adr``)."""
        day = REFERENCE_DATE - timedelta(days=10 + int(self._unit(u, "dlu-day") * 60))
        confused = "alzheimer" in u.conditions or "sequelles-avc" in u.conditions
        falls = self._unit(u, "dlu-falls") < (0.5 if "parkinson" in u.conditions else 0.25)
        out = [
            self.dlu_observation(u, "alerte", "288575003", "Able to communicate", "Peut alerter", not confused, day),
            self.dlu_observation(u, "oriente", "247663003", "Oriented", "Orienté", not confused, day),
            self.dlu_observation(u, "desoriente", "62476001", "Disorientated", "Désorienté", confused, day),
            self.dlu_observation(u, "chutes", "161898004", "Falls", "Chutes", falls, day),
        ]
        carrier = self._unit(u, "bmr") < 0.08
        bmr = self.dlu_observation(u, "bmr", "U83.71", "Bactérie multirésistante", "Portage de BMR / BHRe",
                                   carrier, day)
        bmr["code"] = {"coding": [_coding(ICD10, "U83.71", "Bactérie multirésistante [BMR]")],
                       "text": "Portage de bactérie multirésistante (BMR / BHRe)"}
        bmr["category"] = [_cc("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory",
                               "Laboratory", "Biologie")]
        if carrier:
            bmr["note"] = [{"text": "Entérobactérie productrice de BLSE, précautions contact."}]
        out.append(bmr)
        vaccination = date(REFERENCE_DATE.year - 1, 10, 15 + int(self._unit(u, "flu-day") * 14))
        out.append({
            "resourceType": "Immunization",
            "id": f"{u.pid}-vaccin-grippe",
            "status": "completed",
            "vaccineCode": {"coding": [_coding(ATC, "J07BB02", "influenza, inactivated, split virus or surface "
                                               "antigen")], "text": "Vaccin grippal inactivé"},
            "patient": _ref("Patient", u.pid, u.display),
            "occurrenceDateTime": vaccination.isoformat(),
            "primarySource": True,
            "lotNumber": f"GRP{int(self._unit(u, 'flu-lot') * 900000) + 100000}",
            "route": _cc(SNOMED, "78421000", "Intramuscular route", "Voie intramusculaire"),
            "performer": [{"actor": _ref("Practitioner", self.first_staff(u.structure, "medco").pid)}],
        })
        if self._unit(u, "advance-directive") < 0.33:
            written = max(u.admission, REFERENCE_DATE - timedelta(days=400))
            out.append({
                "resourceType": "Consent",
                "id": f"{u.pid}-directives-anticipees",
                "status": "active",
                "scope": _cc("http://terminology.hl7.org/CodeSystem/consentscope", "adr", "Advanced Care Directive",
                             "Directives anticipées"),
                "category": [_cc(LOINC, "42348-3", "Advance healthcare directives", "Directives anticipées")],
                "patient": _ref("Patient", u.pid, u.display),
                "dateTime": _instant(written, 15, 0),
                "policy": [{"uri": "https://www.legifrance.gouv.fr/codes/article_lc/LEGIARTI000031972259"}],
                "sourceAttachment": {"contentType": "application/pdf", "title": "Directives anticipées (original "
                                     "conservé dans le dossier papier de l'EHPAD)"},
            })
        return out

    # -- assembly --------------------------------------------------------------------------------------------
    def build(self) -> dict[str, Any]:
        self.build_structures()
        self.build_staff()
        usagers = self.build_usagers()
        for u in usagers:
            self.add(self.patient(u))
        for u in usagers:
            for aidant in self.aidants(u):
                self.add(aidant)
        # Delegation consents to the first aidant for ~30 % of usagers, chosen among those without Alzheimer.
        candidates = [u for u in usagers if u.aidants and "alzheimer" not in u.conditions]
        wanted = min(len(candidates), round(len(usagers) * 0.3))
        delegated = {u.pid for u in self.rng.sample(candidates, wanted)}
        for u in usagers:
            self.add(self.encounter(u))
            for resource in self.conditions(u):
                self.add(resource)
            for resource in self.allergies(u):
                self.add(resource)
            for resource in self.observations(u):
                self.add(resource)
            for resource in self.medications(u):
                self.add(resource)
            if u.structure.key == "ehpad":
                # The projet personnalisé is drawn up 1.5 to 3 months after admission and renewed every year:
                # only the current version (covering REFERENCE_DATE) is emitted.
                start = u.admission + timedelta(days=self.rng.randint(45, 90))
                version = 1
                while _add_years(start, 1) <= REFERENCE_DATE:
                    start = _add_years(start, 1)
                    version += 1
                goals = self.goals(u, start)
                for goal in goals:
                    self.add(goal)
                agreement = self.add(self.structure_agreement(u, start))
                self.add(self.care_team(u))
                self.add(self.care_plan(u, goals, agreement, start, version))
            else:
                self.add(self.care_team(u))
            if u.pid in delegated:
                self.add(self.delegation_consent(u))
            for resource in self.documents(u):
                self.add(resource)
            if u.structure.key == "ehpad":
                for resource in self.dlu_data(u):
                    self.add(resource)
        entries = []
        for resource_type in self.TYPE_ORDER:
            for resource in self.resources[resource_type]:
                name = f"{self.seed}:{resource_type}/{resource['id']}"
                entries.append(
                    {
                        "fullUrl": f"urn:uuid:{uuid.uuid5(_UUID_NAMESPACE, name)}",
                        "resource": resource,
                        "request": {"method": "PUT", "url": f"{resource_type}/{resource['id']}"},
                    }
                )
        return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def build_demo_bundle(seed: int = 2026, usagers: int = 50) -> dict[str, Any]:
    """Build the demo data set as a FHIR R4 transaction Bundle (dict).

    ``usagers`` is split about 70 % EHPAD residents / 30 % SSIAD usagers. The result is fully determined by
    ``seed`` and ``usagers``; entries are ``PUT <Type>/<id>`` with stable readable ids, so loading the bundle
    a second time updates the same resources.
    """
    if not 0 <= usagers <= 999:
        raise ValueError("usagers must be between 0 and 999")
    return _DemoBuilder(seed, usagers).build()
