"""French identity building blocks: national identifier keys, RNIV identity statuses, INS identifiers.

Pure, typed, framework-free modules (no Flask, no SQLAlchemy):

* :mod:`fhirserver.identity.keys` -- NIR / NIA, RPPS, ADELI, IDNPS, FINESS, SIREN, SIRET, Struct_IdNat and INSEE
  COG code formats and check keys, raising :class:`~fhirserver.identity.keys.IdentifierError`;
* :mod:`fhirserver.identity.status` -- the four RNIV statuses, their transitions and their FR Core 2.1 / 2.2
  ``fr-core-identity-reliability`` wire form (mind the ``VALI`` trap);
* :mod:`fhirserver.identity.ins` -- INS assigning authorities (production / test / demo OIDs) and FHIR Identifiers.

Reference: ``../shared/specs/french-interop.md`` §0-§2 and §12.
"""

from fhirserver.identity.ins import (
    check_ins_identifier,
    ins_identifier,
    ins_system,
    ins_system_info,
    is_ins_system,
)
from fhirserver.identity.keys import (
    IdentifierError,
    Nir,
    check_adeli,
    check_finess,
    check_idnps,
    check_insee_code,
    check_nia,
    check_nir,
    check_rpps,
    check_siren,
    check_siret,
    check_struct_idnat,
    luhn_is_valid,
    nir_key,
)
from fhirserver.identity.status import (
    IdentityStatus,
    IdentityStatusError,
    downgrade_on_trait_change,
    from_extension,
    to_extension,
)

__all__ = [
    "IdentifierError",
    "IdentityStatus",
    "IdentityStatusError",
    "Nir",
    "check_adeli",
    "check_finess",
    "check_idnps",
    "check_ins_identifier",
    "check_insee_code",
    "check_nia",
    "check_nir",
    "check_rpps",
    "check_siren",
    "check_siret",
    "check_struct_idnat",
    "downgrade_on_trait_change",
    "from_extension",
    "ins_identifier",
    "ins_system",
    "ins_system_info",
    "is_ins_system",
    "luhn_is_valid",
    "nir_key",
    "to_extension",
]
