"""TDDUI — "Médicosocial - Transfert de données DUI" (ANS, ``ans.fhir.fr.tddui``): the DSR's data portability.

* :mod:`fhirserver.tddui.rules` -- the import side: a Bundle claiming ``tddui-bundle`` is a create-only
  transaction (flux 1, ``POST [base]/``), checked before it runs as an ordinary atomic transaction;
* :mod:`fhirserver.tddui.export` -- the export side: one usager's record as a ``tddui-bundle``
  (``Patient/{id}/$tddui-export``).

Sources: ``ansforge/IG-fhir-medicosocial-transfert-donnees-dui`` — ``input/fsh/Profiles/TDDUIBundle.fsh``
(entry slices, every ``request.method = #POST``), ``input/pagecontent/description_flux_1_transmission_donnees_dui.md``
(exchange rules), ``input/fsh/instances/TDDUIBundle*.fsh`` (example shape); french-interop.md §2.1 and §3.2.
"""

from __future__ import annotations

SD = "https://interop.esante.gouv.fr/ig/fhir/tddui/StructureDefinition/"

BUNDLE = SD + "tddui-bundle"
PATIENT = SD + "tddui-patient"
PATIENT_INS = SD + "tddui-patient-ins"
ORGANIZATION = SD + "tddui-organization"
ENCOUNTER_SEJOUR = SD + "tddui-encounter-sejour"
CAREPLAN_PROJET_PERSONNALISE = SD + "tddui-careplan-projet-personnalise"
CONSENT_ACCORD = SD + "tddui-consent-accord"
RELATED_PERSON_CONTACT = SD + "tddui-related-person-contact"
PRACTITIONER = SD + "tddui-practitioner"
PRACTITIONER_ROLE = SD + "tddui-practitioner-role"
BIRTH_ORDER = SD + "tddui-birth-order"
DISCRIMINATOR = SD + "tddui-discriminator"

#: TDDUI business identifier systems (french-interop.md §2.1, TDDUI ≥ 2.x)
LOCAL_USAGER_SYSTEM = "https://identifiant-medicosocial-localusager.esante.gouv.fr"
PROJET_PERSONNALISE_SYSTEM = "https://identifiant-medicosocial-projetpersonnalise.esante.gouv.fr"
SEJOUR_SYSTEM = "https://identifiant-medicosocial-sejour.esante.gouv.fr"
STRUCTURE_IDNAT_SYSTEM = "urn:oid:1.2.250.1.71.4.2.2"
PS_IDNAT_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"


def is_tddui_profile(url: object) -> bool:
    return isinstance(url, str) and url.startswith(SD)
