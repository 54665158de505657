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

Layout: :mod:`.data` holds the reference data (names, communes, clinical catalogues, roles, care contents) and
:mod:`.systems` the identifier / code systems and profiles; the builders (:mod:`.structures`, :mod:`.staff`,
:mod:`.usagers`, :mod:`.aidants`, :mod:`.clinical`, :mod:`.care_plans`, :mod:`.documents`, :mod:`.dlu`) turn
them into resources with the seeded random source of :mod:`.context`; :mod:`.build` assembles the Bundle.
"""

from __future__ import annotations

from fhirserver.demo.build import build_demo_bundle
from fhirserver.demo.data.places import BIRTH_COMMUNES, CORSICA_COMMUNES
from fhirserver.demo.pdf import minimal_pdf
from fhirserver.demo.systems import REFERENCE_DATE
from fhirserver.identity.keys import luhn_is_valid, nir_key

__all__ = [
    "BIRTH_COMMUNES",
    "CORSICA_COMMUNES",
    "REFERENCE_DATE",
    "build_demo_bundle",
    "luhn_is_valid",
    "minimal_pdf",
    "nir_key",
]
