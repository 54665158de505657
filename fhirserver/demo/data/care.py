"""Documents (LOINC types of JDV_J07) and projet personnalisé contents (goals, activities) of the demo data set."""

from __future__ import annotations

from dataclasses import dataclass


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
