"""FHIR code-system / identifier-system URIs <-> CDA OIDs (pure data and two look-ups).

A FHIR ``system`` is a URI; CDA R2 wants an OID (``codeSystem``, ``id/@root``). The table lists the systems the
server's data really use (FR Core, TDDUI, the demo data set of :mod:`fhirserver.demo`) with the OIDs of the NOS
(Nomenclatures des Objets de Santé, https://mos.esante.gouv.fr/NOS/) and of HL7 (https://terminology.hl7.org).
``urn:oid:`` systems carry their OID themselves. See :mod:`mappings.terminology.cisis` for the CI-SIS value-set
conversions that are more than a change of system (profession -> JDV_J01 code).
"""

from __future__ import annotations

__all__ = ["OID_BY_URI", "URI_BY_OID", "oid_of", "uri_of"]

NOS = "https://mos.esante.gouv.fr/NOS"

#: FHIR URI -> OID (first URI of an OID is its canonical FHIR form)
OID_BY_URI: dict[str, str] = {
    # international
    "http://loinc.org": "2.16.840.1.113883.6.1",
    "http://snomed.info/sct": "2.16.840.1.113883.6.96",
    "http://hl7.org/fhir/sid/icd-10": "2.16.840.1.113883.6.3",
    "http://hl7.org/fhir/sid/icd-10-fr": "2.16.840.1.113883.6.3",
    "http://id.who.int/icd/release/11/mms": "2.16.840.1.113883.6.347",
    "http://standardterms.edqm.eu": "0.4.0.127.0.16.1.1.2.1",
    "http://www.whocc.no/atc": "2.16.840.1.113883.6.73",
    "http://unitsofmeasure.org": "2.16.840.1.113883.6.8",
    "urn:ietf:bcp:47": "2.16.840.1.113883.6.121",
    "http://terminology.hl7.org/CodeSystem/v3-ActCode": "2.16.840.1.113883.5.4",
    "http://terminology.hl7.org/CodeSystem/v3-RoleCode": "2.16.840.1.113883.5.111",
    "http://terminology.hl7.org/CodeSystem/v3-ParticipationType": "2.16.840.1.113883.5.90",
    "http://terminology.hl7.org/CodeSystem/v3-ParticipationFunction": "2.16.840.1.113883.5.88",
    "http://terminology.hl7.org/CodeSystem/v3-Confidentiality": "2.16.840.1.113883.5.25",
    "http://terminology.hl7.org/CodeSystem/v3-AdministrativeGender": "2.16.840.1.113883.5.1",
    "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus": "2.16.840.1.113883.5.2",
    "http://terminology.hl7.org/CodeSystem/v3-ActStatus": "2.16.840.1.113883.5.14",
    "http://terminology.hl7.org/CodeSystem/v3-RoleClass": "2.16.840.1.113883.5.110",
    "http://terminology.hl7.org/CodeSystem/v3-NullFlavor": "2.16.840.1.113883.5.1008",
    # French identifiers (ANS)
    "https://rpps.esante.gouv.fr": "1.2.250.1.71.4.2.1",  # RPPS numbers are carried as IDNPS "8" + RPPS
    "https://finess.esante.gouv.fr": "1.2.250.1.71.4.2.2",  # FINESS numbers are carried as IDNST "1" + FINESS
    "https://smt.esante.gouv.fr/terminologie-cis": "1.2.250.1.213.2.3.1",  # CIS, medicinal products (ANSM)
    # NOS terminologies (TRE_*)
    f"{NOS}/TRE_R02-SecteurActivite/FHIR/TRE-R02-SecteurActivite": "1.2.250.1.71.4.2.4",
    f"{NOS}/TRE_A01-CadreExercice/FHIR/TRE-A01-CadreExercice": "1.2.250.1.213.1.1.4.9",
    f"{NOS}/TRE_A00-ProducteurDocNonPS/FHIR/TRE-A00-ProducteurDocNonPS": "1.2.250.1.213.1.1.4.6",
    f"{NOS}/TRE_A05-TypeDocComplementaire/FHIR/TRE-A05-TypeDocComplementaire": "1.2.250.1.213.1.1.4.12",
    f"{NOS}/TRE_A07-StatutVisibiliteDocument/FHIR/TRE-A07-StatutVisibiliteDocument": "1.2.250.1.213.1.1.4.13",
    f"{NOS}/TRE_A11-IheFormatCode/FHIR/TRE-A11-IheFormatCode": "1.3.6.1.4.1.19376.1.2.3",
    f"{NOS}/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante": "1.2.250.1.71.1.2.7",
    f"{NOS}/TRE_R38-SpecialiteOrdinale/FHIR/TRE-R38-SpecialiteOrdinale": "1.2.250.1.213.2.28",
    f"{NOS}/TRE_R85-RolePriseCharge/FHIR/TRE-R85-RolePriseCharge": "1.2.250.1.213.1.6.1.107",
    f"{NOS}/TRE_R94-ProfessionSocial/FHIR/TRE-R94-ProfessionSocial": "1.2.250.1.213.1.6.1.4",
    f"{NOS}/TRE_R216-HL7RoleCode/FHIR/TRE-R216-HL7RoleCode": "2.16.840.1.113883.5.111",
    f"{NOS}/TRE_R260-HL7RoleClass/FHIR/TRE-R260-HL7RoleClass": "2.16.840.1.113883.5.110",
}

#: OID -> its canonical FHIR URI (the first URI listed for it above)
URI_BY_OID: dict[str, str] = {}
for _uri, _oid in OID_BY_URI.items():
    URI_BY_OID.setdefault(_oid, _uri)


def oid_of(system: str | None) -> str | None:
    """The OID of a FHIR system URI: ``urn:oid:X`` -> ``X``, a known URI -> its OID, anything else -> None."""
    if not system:
        return None
    if system.startswith("urn:oid:"):
        return system.removeprefix("urn:oid:")
    return OID_BY_URI.get(system.rstrip("/"))


def uri_of(oid: str | None) -> str | None:
    """The FHIR system URI of an OID: a known OID -> its URI, any other OID -> ``urn:oid:<oid>``."""
    if not oid:
        return None
    return URI_BY_OID.get(oid, f"urn:oid:{oid}")
