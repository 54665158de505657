"""The DMP value sets (jeux de valeurs) that XDS metadata must be drawn from, shipped as data.

The product cannot read the ANS kit at run time for this, so the codes live here. Sources (all ANS, NOS —
https://mos.esante.gouv.fr/NOS/; FHIR versions in ``ansforge/IG-terminologie-de-sante``):

=================  ===============================================================================  ============
set                source                                                                           version
=================  ===============================================================================  ============
J57 classCode      JDV_J57-ClassCode-DMP (1.2.250.1.213.1.1.5.6), IG terminologie 1.12.0 page         20230922
J58 confidential.  JDV_J58-ConfidentialityCode-DMP (1.2.250.1.213.1.1.5.9); = kit JDV_J08 codes        20200424
J59 contentType    JDV_J59-ContentTypeCode-DMP (1.2.250.1.213.1.1.5.2), ``DM/.../JDV_J59...fsh``       20260928
                   (TRE_R276 FormeActivite codes left out: their OID is not confirmed)
J60 formatCode     JDV_J60-FormatCode-DMP (1.2.250.1.213.1.1.5.8), ``DM/.../JDV_J60...fsh``            20260928
J61 facilityType   JDV_J61-HealthcareFacilityTypeCode-DMP is not in the kit nor in the stored IG; the
                   CI-SIS fallback JDV_J02 (kit ``jeuxDeValeurs/JDV_J02...xml``, 1.2.250.1.213.1.1.5.466)  20241213
J66 typeCode       the source codes of ASS_X16-CorrespondanceType-Classe-DMP (1.2.250.1.213.1.1.5.587,
                   "restricted to the codes of JDV_J66 and JDV_J57"), labels from kit JDV_J07           20240223
X16 type → class   ASS_X16 (same file, ``DM/input/fsh/ASS-X16-CorrespondanceType-Classe-DMP.fsh``)      20240223
J04 practice       kit ``jeuxDeValeurs/JDV_J04_XdsPracticeSettingCode_CISIS.xml`` (1.2.250.1.213.1.1.5.467) 20240927
                   (the DMP-specific JDV_J62-PracticeSettingCode-DMP is not available to the project)
=================  ===============================================================================  ============

``tests/mappings/test_xds_metadata.py`` checks these tables against the kit's JDV files where they exist
(J02, J04, J07, J08). Update the tables (and the versions above) when the ANS publishes new versions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

# Code systems (OIDs) used by the value sets.
LOINC = "2.16.840.1.113883.6.1"
HL7_CONFIDENTIALITY = "2.16.840.1.113883.5.25"
TRE_A03_CLASSE_DOCUMENT = "1.2.250.1.213.1.1.4.1"
TRE_A05_TYPE_DOC_COMPLEMENTAIRE = "1.2.250.1.213.1.1.4.12"
TRE_A06_FORMAT_CODE_COMPLEMENTAIRE = "1.2.250.1.213.1.1.4.2.282"
TRE_A07_STATUT_VISIBILITE = "1.2.250.1.213.1.1.4.13"
TRE_A11_IHE_FORMAT_CODE = "1.3.6.1.4.1.19376.1.2.3"
TRE_A00_PRODUCTEUR_DOC_NON_PS = "1.2.250.1.213.1.1.4.6"
TRE_A01_CADRE_EXERCICE = "1.2.250.1.213.1.1.4.9"
TRE_R02_SECTEUR_ACTIVITE = "1.2.250.1.71.4.2.4"
TRE_R209_TYPE_ACTIVITE = "1.2.250.1.213.2.2"
DICOM_UID = "1.2.840.10008.2.6.1"
URN = "URN"


@dataclass(frozen=True)
class ValueSet:
    """A closed list of (code, code system) pairs with their display names."""

    name: str
    oid: str
    concepts: dict[tuple[str, str], str] = field(repr=False)

    def display(self, code: str, system: str) -> str | None:
        return self.concepts.get((code, system))

    def __contains__(self, item: object) -> bool:
        return item in self.concepts

    def codes(self) -> set[tuple[str, str]]:
        return set(self.concepts)


def _vs(name: str, oid: str, rows: Iterable[tuple[str, str, str]]) -> ValueSet:
    return ValueSet(name, oid, {(code, system): display for code, system, display in rows})


J57_CLASS_CODE = _vs("JDV_J57-ClassCode-DMP", "1.2.250.1.213.1.1.5.6", [
    ("10", TRE_A03_CLASSE_DOCUMENT, "Compte rendu"),
    ("11", TRE_A03_CLASSE_DOCUMENT, "Synthèse"),
    ("31", TRE_A03_CLASSE_DOCUMENT, "Imagerie médicale"),
    ("42", TRE_A03_CLASSE_DOCUMENT, "Prescription"),
    ("43", TRE_A03_CLASSE_DOCUMENT, "Dispensation"),
    ("44", TRE_A03_CLASSE_DOCUMENT, "Plan de soins, protocole de soins"),
    ("45", TRE_A03_CLASSE_DOCUMENT, "Traitement administré"),
    ("52", TRE_A03_CLASSE_DOCUMENT, "Certificat, déclaration"),
    ("60", TRE_A03_CLASSE_DOCUMENT, "Données de remboursement"),
    ("90", TRE_A03_CLASSE_DOCUMENT, "Autres documents déposés par le patient"),
    ("95", TRE_A03_CLASSE_DOCUMENT, "Document de gestion"),
    ("urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1", URN, "Digital Signature"),
])

J58_CONFIDENTIALITY_CODE = _vs("JDV_J58-ConfidentialityCode-DMP", "1.2.250.1.213.1.1.5.9", [
    ("N", HL7_CONFIDENTIALITY, "Normal"),
    ("R", HL7_CONFIDENTIALITY, "Restreint"),
    ("V", HL7_CONFIDENTIALITY, "Très restreint"),
    ("INVISIBLE_PATIENT", TRE_A07_STATUT_VISIBILITE, "Non visible par le patient"),
    ("INVISIBLE_REPRESENTANTS_LEGAUX", TRE_A07_STATUT_VISIBILITE,
     "Non visible par les représentants légaux du patient"),
    ("MASQUE_PS", TRE_A07_STATUT_VISIBILITE, "Masqué aux professionnels de santé"),
])

# The visibility labels a caller may add after the CDA confidentiality code.
VISIBILITY_LABELS = ("MASQUE_PS", "INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX")

_TYPE_ACTIVITE = [
    ("03", "Hospitalisation complète (non compris hospitalisation de semaine)"), ("04", "Hospitalisation de jour"),
    ("07", "Consultations soins externes"), ("08", "Bloc opératoire (y compris obstétrical et gynécologique)"),
    ("09", "Autres unités médico-techniques (anesthésiologie, explor fonct, rééduc et réadapt fonct, pharmacie)"),
    ("11", "Hébergement complet ou internat (non compris internat de semaine)"), ("13", "Semi-internat"),
    ("14", "Externat"), ("15", "Placement en famille d'accueil (strictement social)"),
    ("16", "Prestations sur le lieu de vie (non compris placement familial)"), ("17", "Internat de semaine"),
    ("18", "Hébergement de nuit en structure éclatée"), ("19", "Traitement et cure ambulatoire"),
    ("20", "Hospitalisation de semaine"), ("21", "Accueil de Jour (sans distinction entre semi-internat et externat)"),
    ("22", "Accueil de nuit"), ("25", "Accueil temporaire week-end ou vacances"),
    ("26", "Analyses médicales biologiques"), ("27", "Accueil modulable/séquentiel"),
    ("28", "Consultations dentaires et soins dentaires"), ("33", "Recherche"),
    ("37", "Accueil et prise en charge en appartement thérapeutique"), ("40", "Accueil temporaire avec hébergement"),
    ("42", "Equipe mobile de rue"), ("43", "Tous modes d'accueil avec hébergement"),
    ("44", "Accueil temporaire de jour"), ("45", "Accueil temporaire (avec et sans hébergement)"),
    ("46", "Tous modes d'accueil (avec et sans hébergement)"),
    ("47", "Accueil de jour et accompagnement en milieu ordinaire"), ("48", "Tous modes d'accueil et d'accompagnement"),
    ("50", "Protection juridique"), ("52", "Accompagnement social personnalisé"), ("54", "Accueil familial"),
    ("60", "Consultations et actes"), ("97", "Type d'activité indifférencié"),
]

_SECTEUR_ACTIVITE_J02 = [
    ("SA01", "Etablissement public de santé"), ("SA02", "Hôpital militaire du Service de santé des armées"),
    ("SA03", "Etablissement privé PSPH"), ("SA04", "Etablissement privé non PSPH"), ("SA05", "Centre de santé"),
    ("SA06", "Autre structure du Service de santé des armées"), ("SA07", "Cabinet individuel"),
    ("SA08", "Cabinet de groupe"), ("SA09", "Exercice en société"), ("SA10", "Transporteur sanitaire"),
    ("SA12", "Etablissement de soins et prévention"), ("SA13", "Prévention et soins en entreprise"),
    ("SA14", "Etablissements scolaires, universitaires et de formation hors champ FINESS"),
    ("SA15", "PMI et Planification familiale"), ("SA16", "Etablissement pour personnes handicapées"),
    ("SA17", "Etablissement pour personnes âgées"), ("SA18", "Etablissement aide à la famille"),
    ("SA19", "Etablissements FINESS de formation aux professions sanitaires et sociales"),
    ("SA20", "Etablissement pour la protection de l'enfance"),
    ("SA21", "Etablissement d'hébergement et de réadaptation"), ("SA22", "Recherche"),
    ("SA23", "Assurance privée"), ("SA24", "Organisme de sécurité sociale"),
    ("SA25", "Laboratoire de biologie médicale"), ("SA26", "Ministère ou Service déconcentré"),
    ("SA27", "Collectivité territoriale"), ("SA28", "Association ou organisme humanitaire"),
    ("SA29", "Laboratoire d'analyses et de biologie médicale"), ("SA30", "Autre établissement sanitaire"),
    ("SA31", "Répartition et Distribution de médicaments et dispositifs médicaux"),
    ("SA32", "Fabrication, Exploitation et Importation de médicaments et dispositifs médicaux"),
    ("SA33", "Pharmacie d'officine"), ("SA34", "Centre de dialyse"), ("SA35", "Para-pharmacie"),
    ("SA36", "Centre anti-cancer"), ("SA37", "Centre de transfusion sanguine"), ("SA38", "Pharmacie minière"),
    ("SA39", "Pharmacie mutualiste"), ("SA40", "Secteur privé, praticien hospitalier temps plein"),
    ("SA41", "Autre établissement du domaine social ou médico-social"), ("SA42", "Appareillage médical"),
    ("SA43", "Secteur non défini"), ("SA44", "Recrutement ou Gestion RH"),
    ("SA45", "Communication, Marketing, Consulting, Média"),
    ("SA46", "Fabrication, Exploitation, Importation, Répartition, Distribution médicaments et dispositifs "
             "médicaux"),
    ("SA47", "Incendie et secours"), ("SA48", "Entreprise industrielle et tertiaire hors industrie pharmaceutique"),
    ("SA49", "Entité Outre-Mer"), ("SA50", "Permanence des soins ambulatoires hors cabinet"),
    ("SA51", "Structure de coopération avec autorisation de soins"), ("SA52", "Maison de santé ou Pôle de santé"),
    ("SA53", "Siège administratif d'un établissement de santé"), ("SA54", "Centre de dépistage et de prévention"),
    ("SA55", "Laboratoire pharmaceutique préparant et délivrant des allergènes"), ("SA56", "Propharmacie"),
    ("SA57", "Structure de coopération avec mission de coordination de soins"), ("SA58", "Entreprise de taxis"),
    ("SA59", "Laboratoire de biologie médicale hors catégorie standard"), ("SA60", "Centres médicaux SNCF"),
    ("SA61", "Structure Dispensatrice à domicile d'Oxygène à usage médical"),
    ("SA63", "Communauté professionnelle territoriale de santé et équipe de soins spécialisés"),
    ("SA64", "Société de téléconsultation"), ("SA65", "Antenne de pharmacie"),
    ("SA66", "Services de Prévention et de Santé au Travail (SPST)"), ("SA67", "Maisons médicales de garde (MMG)"),
    ("SA68", "Services départementaux d'incendie et de secours"), ("SA69", "Maisons de naissance"),
]

# J59 lists the TRE_R02 sectors except SA01-SA04, SA66 and SA67 (and labels SA63 differently).
_J59_SECTEURS_ABSENT = {"SA01", "SA02", "SA03", "SA04", "SA66", "SA67"}

J59_CONTENT_TYPE_CODE = _vs("JDV_J59-ContentTypeCode-DMP", "1.2.250.1.213.1.1.5.2", [
    ("EXP_PATIENT", TRE_A00_PRODUCTEUR_DOC_NON_PS, "Expression personnelle du patient"),
    *((code, TRE_R209_TYPE_ACTIVITE, label) for code, label in _TYPE_ACTIVITE),
    *((code, TRE_R02_SECTEUR_ACTIVITE, "Communauté Professionnelle Territoriale de Santé" if code == "SA63" else label)
      for code, label in _SECTEUR_ACTIVITE_J02 if code not in _J59_SECTEURS_ABSENT),
])

_A06 = TRE_A06_FORMAT_CODE_COMPLEMENTAIRE
_A11 = TRE_A11_IHE_FORMAT_CODE
J60_FORMAT_CODE = _vs("JDV_J60-FormatCode-DMP", "1.2.250.1.213.1.1.5.8", [
    ("urn:ans:ci-sis:bio-ep-bio:2022", _A06, "Prescription d'actes de biologie médicale"),
    ("urn:ans:ci-sis:img-da:2022", _A06, "Demande d'actes d'imagerie"),
    ("urn:asip:ci-sis:aunv:2013", _A06, "Fiche d'admission en unité neuro-vasculaire"),
    ("urn:asip:ci-sis:avk:2009", _A06, "Fiche patient à risque en cardiologie - Traitement AVK"),
    ("urn:asip:ci-sis:crgm:2018", _A06, "Compte rendu de génétique moléculaire"),
    ("urn:asip:ci-sis:crrtn:2013", _A06, "Compte-rendu de rétinographie"),
    ("urn:asip:ci-sis:cse-cs24:2017", _A06, "Certificat de santé du 24ème mois de l'enfant"),
    ("urn:asip:ci-sis:cse-cs8:2017", _A06, "Certificat de santé du 8ème jour de l'enfant"),
    ("urn:asip:ci-sis:cse-cs9:2017", _A06, "Certificat de santé du 9ème mois de l'enfant"),
    ("urn:asip:ci-sis:d2lm-fidd:2017", _A06,
     "Seconde lecture de mammographie - Fiche d'interprétation du bilan de diagnostic différé"),
    ("urn:asip:ci-sis:d2lm-fin:2017", _A06, "Seconde lecture de mammographie - Fiche d'interprétation nationale"),
    ("urn:asip:ci-sis:dci:2009", _A06, "Fiche patient à risque en cardiologie - Défibrillateur cardiaque interne"),
    ("urn:asip:ci-sis:dlu:2015", _A06, "Document de liaison d'urgence"),
    ("urn:ans:ci-sis:cse-mde:2023", _A06, "Mesures de signes vitaux"),
    ("urn:asip:ci-sis:eunv:2013", _A06, "Fiche d'épisode de soin en unité neuro-vasculaire"),
    ("urn:asip:ci-sis:fludr:2017", _A06, "Fiche de liaison d'urgence - Retour des urgences vers l'EHPAD"),
    ("urn:asip:ci-sis:fludt:2017", _A06, "Fiche de liaison d'urgence - Transfert de l'EHPAD vers les urgences"),
    ("urn:asip:ci-sis:frcp:2011", _A06, "Fiche de réunion de concertation pluridisciplinaire"),
    ("urn:asip:ci-sis:hr:2019", _A06, "Données de remboursement"),
    ("urn:asip:ci-sis:idap:2011", _A06, "Information et directives anticipées du patient"),
    ("urn:asip:ci-sis:ldl-ees:2017", _A06, "Lettre de Liaison à l'entrée d'un établissement de santé"),
    ("urn:asip:ci-sis:ldl-ses:2017", _A06, "Lettre de Liaison à la sortie de l'établissement de santé"),
    ("urn:asip:ci-sis:pavc:2016", _A06, "Compte-rendu de consultation d'évaluation pluri-professionnelle post AVC"),
    ("urn:asip:ci-sis:pps-cancer:2017", _A06, "Programme Personnalisé de Soins - Cancer"),
    ("urn:asip:ci-sis:pps-paerpa:2017", _A06, "Plan Personnalisé de Santé - PAERPA"),
    ("urn:asip:ci-sis:ppv:2009", _A06, "Fiche patient à risque en cardiologie - Porteur d'une prothèse valvulaire"),
    ("urn:asip:ci-sis:psc:2009", _A06, "Fiche patient à risque en cardiologie - Porteur d'un stimulateur cardiaque"),
    ("urn:asip:ci-sis:sdm-mr:2017", _A06, "Set de Données Minimum - Maladies Rares"),
    ("urn:asip:ci-sis:sunv:2013", _A06, "Fiche de sortie d'unité neuro-vasculaire"),
    ("urn:asip:ci-sis:tap:2009", _A06,
     "Fiche patient à risque en cardiologie - Traitement antiagrégant plaquettaire, stent"),
    ("urn:asip:ci-sis:vac:2019", _A06, "Historique des vaccinations"),
    ("urn:asip:ci-sis:vsm:2012", _A06, "Synthèse médicale"),
    ("urn:asipSante:modelesHorsProfils:2011", _A06, "Document non référencé IHE ou CI-SIS"),
    ("urn:asip:ci-sis:cr-cpa:2020", _A06, "Compte rendu de consultation pré-anesthésique"),
    ("urn:asip:ci-sis:cr-anest:2020", _A06, "Compte rendu d'anesthésie"),
    ("urn:asip:ci-sis:tlm-da:2020", _A06, "Demande d'acte de télémédecine"),
    ("urn:asip:ci-sis:vac-note:2021", _A06, "Note de vaccination"),
    ("urn:asip:ci-sis:obp-sap:2023", _A06, "Synthèse antepartum"),
    ("urn:asip:ci-sis:obp-snm:2023", _A06, "Synthèse Salle de Naissance Mère"),
    ("urn:asip:ci-sis:obp-sne:2023", _A06, "Synthèse Salle de Naissance Enfant"),
    ("urn:asip:ci-sis:obp-scm:2023", _A06, "Synthèse Suites de Couches Mère"),
    ("urn:asip:ci-sis:obp-sem:2023", _A06, "Synthèse Enfant en Maternité"),
    ("urn:asip:ci-sis:ppp:2023", _A06, "Plan personnalisé de prévention"),
    ("urn:asip:ci-sis:dlu:2024", _A06, "Document de liaison d'urgence"),
    ("urn:asip:ci-sis:ft-su:2024", _A06, "Fiche de transfert vers le service des urgences"),
    ("urn:asip:ci-sis:fr-su:2024", _A06, "Fiche de retour du service des urgences"),
    ("urn:ans:ci-sis:trod:2024", _A06, "Test rapide d'orientation diagnostique"),
    ("urn:ihe:iti:dsg:detached:2014", _A11, "Signature détachée"),
    ("urn:ihe:iti:xds-sd:pdf:2008", _A11, "Document à corps non structuré en Pdf/A-1"),
    ("urn:ihe:iti:xds-sd:text:2008", _A11, "Document à corps non structuré en texte brut"),
    ("urn:ihe:pharm:dis:2010", _A11, "Dispensation médicamenteuse"),
    ("urn:ihe:iti-fr:xds-sd:jpeg:2010", _A11, "Document à corps non structuré en format jpeg"),
    ("urn:ihe:iti-fr:xds-sd:rtf:2010", _A11, "Document à corps non structuré en format rtf"),
    ("urn:ihe:iti-fr:xds-sd:tiff:2010", _A11, "Document à corps non structuré en format tiff"),
    ("urn:ihe:lab:xd-lab:2008", _A11, "Compte rendu structuré d'examens de biologie médicale"),
    ("urn:ihe:palm:apsr:2016", _A11, "CR d'anatomie et de cytologie pathologiques"),
    ("urn:ihe:pcc:ips:2020", _A11, "Synthèse médicale"),
    ("urn:ihe:pharm:pre:2010", _A11, "Prescription de médicaments"),
    ("urn:ihe:eyecare:geneyeevalcn:2014", _A11, "CR de consultation en ophtalmologie"),
    ("urn:ihe:rad:CDA:ImagingReportStructuredHeadings:2013", _A11, "Compte-rendu d'imagerie médicale"),
    ("1.2.840.10008.5.1.4.1.1.88.59", DICOM_UID, "Key Object Selection Document Storage"),
    ("http://www.w3.org/2000/09/xmldsig#", URN, "Default signature style"),
])

#: volet templateId (ClinicalDocument/templateId/@root) -> its J60 formatCode
VOLET_FORMAT_CODES: dict[str, str] = {
    "1.2.250.1.213.1.1.1.22": "urn:asip:ci-sis:dlu:2015",
    "1.2.250.1.213.1.1.1.23": "urn:asip:ci-sis:fludt:2017",
    "1.2.250.1.213.1.1.1.24": "urn:asip:ci-sis:fludr:2017",
}
#: media type of an N1 (XDS-SD) body -> its J60 formatCode (ASS_A12)
XDS_SD_FORMAT_CODES: dict[str, str] = {
    "application/pdf": "urn:ihe:iti:xds-sd:pdf:2008",
    "text/plain": "urn:ihe:iti:xds-sd:text:2008",
    "image/jpeg": "urn:ihe:iti-fr:xds-sd:jpeg:2010",
    "image/tiff": "urn:ihe:iti-fr:xds-sd:tiff:2010",
    "text/rtf": "urn:ihe:iti-fr:xds-sd:rtf:2010",
}

J61_HEALTHCARE_FACILITY_TYPE_CODE = _vs("JDV_J61-HealthcareFacilityTypeCode-DMP (J02 codes)",
                                        "1.2.250.1.213.1.1.5.466", [
    ("EXP_PATIENT", TRE_A00_PRODUCTEUR_DOC_NON_PS, "Expression personnelle du patient"),
    ("SNR", TRE_A00_PRODUCTEUR_DOC_NON_PS, "Service numérique référencé"),
    *((code, TRE_R02_SECTEUR_ACTIVITE, label) for code, label in _SECTEUR_ACTIVITE_J02),
])

J04_PRACTICE_SETTING_CODE = _vs("JDV_J04-XdsPracticeSettingCode-CISIS", "1.2.250.1.213.1.1.5.467", [
    ("EXP_PATIENT", TRE_A00_PRODUCTEUR_DOC_NON_PS, "Expression personnelle du patient"),
    ("SNR", TRE_A00_PRODUCTEUR_DOC_NON_PS, "Service numérique référencé"),
    ("AMBULATOIRE", TRE_A01_CADRE_EXERCICE, "Ambulatoire"),
    ("AMO", TRE_A01_CADRE_EXERCICE, "Organisme d'assurance maladie obligatoire"),
    ("DEPISTAGE", TRE_A01_CADRE_EXERCICE, "Dépistage"),
    ("ESSMS", TRE_A01_CADRE_EXERCICE, "Etablissement ou Service Social ou Médico-Social"),
    ("ETABLISSEMENT", TRE_A01_CADRE_EXERCICE, "Etablissement de santé"),
    ("HAD", TRE_A01_CADRE_EXERCICE, "Hospitalisation à domicile"),
    ("MAD", TRE_A01_CADRE_EXERCICE, "Maintien à domicile"),
    ("PALLIATIF", TRE_A01_CADRE_EXERCICE, "Soins palliatifs"),
    ("SAD", TRE_A01_CADRE_EXERCICE, "Soins à domicile"),
    ("SAMU_SMUR", TRE_A01_CADRE_EXERCICE, "SAMU/SMUR"),
])

# ASS_X16: DMP typeCode -> DMP classCode (TRE_A03).  (code, system) -> class code.
_X16_LOINC = {
    "11369-6": "52", "11488-4": "10", "11490-0": "10", "11502-2": "10", "11505-5": "10", "11506-3": "10",
    "11526-1": "10", "15507-7": "10", "15508-5": "10", "18748-4": "31", "18761-7": "11", "18776-5": "44",
    "28653-4": "10", "29274-8": "10", "34112-3": "10", "34133-9": "11", "34749-2": "10", "34794-8": "10",
    "34842-5": "11", "34874-8": "10", "34875-5": "10", "47420-5": "10", "51969-4": "10", "52040-3": "31",
    "55115-0": "42", "56445-0": "11", "57057-2": "11", "57055-6": "11", "57075-4": "11", "57828-6": "42",
    "57832-8": "42", "57833-6": "42", "59283-2": "10", "59284-0": "95", "60568-3": "10", "60591-5": "11",
    "60593-1": "43", "61357-0": "42", "67851-6": "10", "68599-0": "11", "68817-6": "11", "70004-7": "10",
    "74207-2": "11", "74465-6": "90", "75468-9": "42", "75482-0": "10", "75492-9": "10", "75496-0": "10",
    "77436-4": "10", "77604-7": "44", "78489-2": "11", "78513-9": "10", "78601-2": "10", "80565-5": "45",
    "80771-9": "44", "80788-3": "44", "80820-4": "11", "83901-9": "11", "83836-7": "11", "83869-8": "44",
    "83981-1": "10", "85208-7": "10", "86531-1": "95", "87273-9": "52", "88348-8": "11", "89235-6": "11",
    "89601-9": "52", "93024-8": "10", "96173-0": "52", "96349-6": "10", "96874-3": "52",
}
_X16_A05 = {
    "AUTORIS-SOINS": "95", "ATTEST-RESID": "95", "ATTEST-DROITS-AM": "95", "ATTEST-ASS-COMPL": "95",
    "ATTEST-HEBGT": "95", "BIL_AUTO": "10", "CERT_DECL": "52", "DISP_AUT": "43", "EXPPAT_1": "90",
    "EXPPAT_2": "90", "EXPPAT_3": "90", "DOCPAT01": "11", "DOCPAT02": "42", "DOCPAT03": "10", "DOCPAT04": "31",
    "DOCPAT05": "10", "DOCPAT06": "10", "DOCPAT07": "52", "DOCPAT08": "11", "DOCPAT09": "95", "IMG-KOS": "31",
    "PROT_ALD": "44", "REMB": "60", "SYNTH": "11", "PRESC-AAT": "42", "PRESC-BIO": "42", "PRESC-KINE": "42",
    "PRESC-INF": "42", "PRESC-PEDI": "42", "PRESC-ORTHOPHO": "42", "PRESC-ORTHOPTIE": "42",
}
X16_TYPE_TO_CLASS: dict[tuple[str, str], str] = {
    **{(code, LOINC): cls for code, cls in _X16_LOINC.items()},
    **{(code, TRE_A05_TYPE_DOC_COMPLEMENTAIRE): cls for code, cls in _X16_A05.items()},
}

# J66 = the X16 source codes. The display names come from the producer's CDA (checked against J07 by tests).
J66_TYPE_CODES: frozenset[tuple[str, str]] = frozenset(X16_TYPE_TO_CLASS)
