"""Real French communes (INSEE COG code, postal code) and street names the demo addresses are made of."""

from __future__ import annotations

from dataclasses import dataclass


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
