"""Identifier systems, code systems, extensions and profiles the demo data set uses (french-interop.md §1-§3).

Also the fixed "today" of the demo world (``REFERENCE_DATE``) and the UUID namespace of the entries' ``fullUrl``.
"""

from __future__ import annotations

import uuid
from datetime import date

# "Today" of the demo world: fixed so that the bundle never depends on the clock.
REFERENCE_DATE = date(2026, 9, 30)

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

# The profession carried by PractitionerRole.code (tddui-practitioner-role).
TDDUI_PROFESSION_EXTENSION = "https://interop.esante.gouv.fr/ig/fhir/tddui/StructureDefinition/tddui-profession"

# Namespace of the uuid5 of every entry's fullUrl and of the documents' masterIdentifier.
UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://fhir.dui-demo.fr/demo-bundle")
