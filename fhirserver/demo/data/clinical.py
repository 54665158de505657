"""Clinical catalogues of the demo data set: conditions (SNOMED CT + CIM-10), drugs (ATC) and allergies."""

from __future__ import annotations

from dataclasses import dataclass

from fhirserver.demo.systems import ATC, SNOMED


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
