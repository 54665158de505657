"""Code systems of the DLU-EHPAD body: FHIR code system URIs <-> the OIDs CDA carries, and the codes the ANS
model fixes (DLU-EHPAD 2022.01 example documents and JDV_* value sets of the ANS test kit).

URIs are turned into OIDs by :mod:`mappings.terminology`; an unknown ``urn:oid:`` URI passes through as its OID.
"""

from __future__ import annotations

from mappings.terminology import oid_of

LOINC = "2.16.840.1.113883.6.1"
SNOMED = "2.16.840.1.113883.6.96"
ICD10 = "2.16.840.1.113883.6.3"
ICD11 = "2.16.840.1.113883.6.347"
ATC = "2.16.840.1.113883.6.73"
CIS = "1.2.250.1.213.2.3.1"
TA_ASIP = "1.2.250.1.213.1.1.4.322"
EDQM = "0.4.0.127.0.16.1.1.2.1"
EMDN = "1.2.250.1.213.2.68"
ACT_CODE = "2.16.840.1.113883.5.4"
TRE_R02 = "1.2.250.1.71.4.2.4"
FINESS = "1.2.250.1.71.4.2.2"
UCUM = "http://unitsofmeasure.org"

_NAMES: dict[str, str] = {
    LOINC: "LOINC", SNOMED: "SNOMED CT", ICD10: "CIM-10", ICD11: "CIM-11", ATC: "ATC", CIS: "CIS",
    TA_ASIP: "TA_ASIP", EDQM: "EDQM", EMDN: "EMDN", ACT_CODE: "ActCode", TRE_R02: "TRE_R02-SecteurActivite",
}

_OID = frozenset("0123456789.")


def oid(system: str) -> str | None:
    """The OID of a FHIR code system URI (:func:`mappings.terminology.oid_of`, ``urn:oid:`` URIs and bare OIDs
    pass through); None if unknown."""
    if system and set(system) <= _OID:
        return system
    return oid_of(system)


def name(system: str) -> str | None:
    return _NAMES.get(system)


#: SNOMED CT route of administration (FHIR dosage.route) -> EDQM standard term (JDV_RouteofAdministration)
ROUTES_EDQM: dict[str, tuple[str, str]] = {
    "26643006": ("20053000", "Voie orale"),
    "447694001": ("20020000", "Voie inhalée"),
    "18679011000001101": ("20020000", "Voie inhalée"),
    "78421000": ("20035000", "Voie intramusculaire"),
    "34206005": ("20066000", "Voie sous-cutanée"),
    "47625008": ("20045000", "Voie intraveineuse"),
    "45890007": ("20070000", "Voie transdermique"),
    "6064005": ("20003000", "Voie cutanée"),
    "37161004": ("20061000", "Voie rectale"),
    "37839007": ("20067000", "Voie sublinguale"),
    "54485002": ("20051000", "Voie ophtalmique"),
}
