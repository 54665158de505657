"""Formats and check keys of the French national identifiers (pure functions, no framework).

Every ``check_*`` function takes the raw value, returns a small frozen result whose ``value`` is the canonical
form (surrounding whitespace and inner spaces removed, letters upper-cased), or raises :class:`IdentifierError`
(a :class:`ValueError`) whose message names the identifier kind and what is wrong. Callers validating wire data
that must already be canonical compare ``result.value`` with the value they received.

Messages about a NIR / NIA never repeat the full number (it is sensitive personal data under the CNIL rules and
error messages end up in logs); the value stays available as ``IdentifierError.value``.

Sources (see also ``../shared/specs/french-interop.md`` §1.1, §2.1-§2.3, where every check key is marked
*unverified* by the ANS files):

* NIR / NIA layout: INSEE definition https://www.insee.fr/fr/metadonnees/definition/c1409 ; service-public.fr
  "Que signifie le numéro de sécurité sociale ?" https://www.service-public.fr/particuliers/vosdroits/F33078 ;
  the Assurance Maladie (CNAM) reference validator
  https://github.com/assurance-maladie-digital/nir-validation (``src/Constraints/NirValidator.php`` and
  ``UPGRADE-2.0.md`` at commit 5c91c979, 2024-10-14) ; python-stdnum ``stdnum/fr/nir.py``.
* NIA "constitué comme un NIR": circulaire DSS/SD4C n° 2012-213 du 1er juin 2012, as quoted by net-entreprises
  (https://formation-net-entreprises.fr/utilisation-dun-nir-dattente-nia-pour-le-pas/).
* Luhn: ISO/IEC 7812-1 annex B. SIRET La Poste exception: french-interop.md §2.3 and python-stdnum
  ``stdnum/fr/siret.py`` (head office ``35600000000048`` keeps the Luhn key).
* IDNPS / Struct_IdNat prefixes: french-interop.md §2.2 (``ansforge/interop-ig-portabilite`` PSIdNat.fsh,
  StructIdNat.fsh).
* INSEE COG codes: https://www.insee.fr/fr/information/5057840 (Code officiel géographique).

Layout, by identifier family: :mod:`.common` (:class:`IdentifierError`, canonical form, Luhn), :mod:`.nir`
(NIR / NIA), :mod:`.professionals` (RPPS, ADELI, IDNPS), :mod:`.structures` (FINESS, SIREN, SIRET,
Struct_IdNat), :mod:`.insee` (INSEE COG codes); IDNPS and Struct_IdNat share one reader of the "type prefix +
identifier" form, :mod:`.prefixed`.
"""

from __future__ import annotations

from fhirserver.identity.keys.common import IdentifierError, Problem, luhn_check_digit, luhn_is_valid
from fhirserver.identity.keys.insee import InseeCode, check_insee_code
from fhirserver.identity.keys.insee import InseeCodeKind as InseeCodeKind
from fhirserver.identity.keys.nir import Nir, check_nia, check_nir, nir_key
from fhirserver.identity.keys.professionals import (
    Adeli,
    IdNps,
    Rpps,
    check_adeli,
    check_idnps,
    check_rpps,
    idnps_from_adeli,
    idnps_from_rpps,
)
from fhirserver.identity.keys.professionals import IdNpsKind as IdNpsKind
from fhirserver.identity.keys.structures import LA_POSTE_HEAD_OFFICE_SIRET as LA_POSTE_HEAD_OFFICE_SIRET
from fhirserver.identity.keys.structures import LA_POSTE_SIREN as LA_POSTE_SIREN
from fhirserver.identity.keys.structures import (
    Finess,
    Siren,
    Siret,
    StructIdNat,
    check_finess,
    check_siren,
    check_siret,
    check_struct_idnat,
    struct_idnat_from_finess,
    struct_idnat_from_siret,
)
from fhirserver.identity.keys.structures import StructIdNatKind as StructIdNatKind

__all__ = [
    "Adeli",
    "Finess",
    "IdNps",
    "IdentifierError",
    "InseeCode",
    "Nir",
    "Problem",
    "Rpps",
    "Siren",
    "Siret",
    "StructIdNat",
    "check_adeli",
    "check_finess",
    "check_idnps",
    "check_insee_code",
    "check_nia",
    "check_nir",
    "check_rpps",
    "check_siren",
    "check_siret",
    "check_struct_idnat",
    "idnps_from_adeli",
    "idnps_from_rpps",
    "luhn_check_digit",
    "luhn_is_valid",
    "nir_key",
    "struct_idnat_from_finess",
    "struct_idnat_from_siret",
]
