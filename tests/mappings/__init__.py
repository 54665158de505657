"""Tests of the pure mappings (CDA header, N1, projet personnalisé). Builders of sample FHIR resources and header
models shared by these tests live here."""

from __future__ import annotations

import copy
from typing import Any

from mappings.cda.model import (
    Address,
    Author,
    Code,
    Document,
    Encounter,
    Identifier,
    LegalAuthenticator,
    Organization,
    Patient,
    PersonName,
    Professional,
    ServiceEvent,
    Telecom,
)

ORG = Organization(Identifier("1.2.250.1.71.4.2.2", "1690158811"), "EHPAD Les Tilleuls",
                   (Telecom("tel:0465710001", "WP"),), (Address(("18 avenue des Tilleuls",), "69008", "Lyon",
                                                               "France"),))
PRO = Professional(Identifier("1.2.250.1.71.4.2.1", "810797309118"), PersonName("Aubépin", ("Loïc",), ("M",),
                                                                                 ("DR",)),
                   Code("G15_10", "1.2.250.1.213.1.1.4.5", "Médecin"),
                   Code("330", "1.2.250.1.213.1.6.1.107", "Coordonnateur de parcours"), ORG)
PATIENT = Patient((Identifier("1.2.250.1.213.1.4.10", "240062123191008"),), "SAINT-PIERRE", "Lucienne",
                  "Lucienne Marie Éléonore", "Gérard", "Lucie", "F", "1940-06-22",
                  Address(city="Dijon", county="21231"))
ESSMS = Code("ESSMS", "1.2.250.1.213.1.1.4.9", "Etablissement ou Service Social ou Médico-Social")
SA17 = Code("SA17", "1.2.250.1.71.4.2.4", "Etablissement pour personnes âgées")


def sample_document(**changes: Any) -> Document:
    """A complete header model (N1 consultation report); ``changes`` replace fields."""
    values: dict[str, Any] = {
        "id": Identifier("1.2.250.1.213.1.1.9.1"), "set_id": Identifier("1.2.250.1.213.1.1.9.2"), "version": 1,
        "code": Code("11488-4", "2.16.840.1.113883.6.1", "CR de consultation", "LOINC"),
        "title": "Compte rendu de consultation", "effective_time": "2026-04-22T16:00:00+02:00",
        "confidentiality": Code("N", "2.16.840.1.113883.5.25", "Normal"), "patient": PATIENT,
        "authors": (Author("2026-04-22T16:00:00+02:00", PRO),), "custodian": ORG,
        "legal_authenticator": LegalAuthenticator("2026-04-22T16:00:00+02:00", PRO),
        "service_event": ServiceEvent("2026-04-22", PRO, ESSMS),
        "encounter": Encounter("2021-03-22T10:00:00+01:00", SA17),
    }
    values.update(changes)
    return Document(**values)


FHIR_PATIENT: dict[str, Any] = {
    "resourceType": "Patient", "id": "p1",
    "extension": [
        {"url": "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability",
         "extension": [{"url": "identityStatus", "valueCoding": {
             "system": "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0445", "code": "VALI"}}]},
        {"url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace", "valueAddress": {
            "extension": [{"url": "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code",
                           "valueCoding": {"system": "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/"
                                                     "TRE-R13-CommuneOM", "code": "21231"}}],
            "city": "Dijon"}},
    ],
    "identifier": [{"use": "official", "type": {"coding": [{
        "system": "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203", "code": "INS-NIR-TEST"}]},
        "system": "urn:oid:1.2.250.1.213.1.4.10", "value": "240062123191008"}],
    "name": [
        {"use": "official", "family": "Saint-Pierre", "given": ["Lucienne"], "extension": [{
            "url": "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-birth-list-given-name",
            "valueString": "Lucienne Marie"}]},
        {"use": "usual", "family": "Gérard", "given": ["Lucie"]},
    ],
    "telecom": [{"system": "phone", "value": "04 65 71 00 03", "use": "home"},
                {"system": "email", "value": "lucie@example.org"}],
    "gender": "female", "birthDate": "1940-06-22",
    "address": [{"use": "home", "line": ["18 avenue des Tilleuls"], "city": "Lyon", "postalCode": "69008"}],
}


def fhir_patient(**changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(FHIR_PATIENT)
    out.update(changes)
    return out
