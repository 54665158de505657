"""The French medico-social domain plugged into the FHIR core: validators and write hooks (see
:mod:`fhirserver.interactions.hooks`), and the services operations need (e.g. the INSi client).

The FHIR core knows nothing of INS, RNIV or FR Core; everything French is registered here.
"""

from __future__ import annotations

from fhirserver import tddui
from fhirserver.audit.trail import AuditTrail
from fhirserver.auth.delegation import DelegationHook
from fhirserver.auth.policy import ScopePolicy
from fhirserver.documents.validation import build_cda_validator
from fhirserver.identity.hooks import IdentityHook
from fhirserver.identity.insi import build_insi_client
from fhirserver.identity.validator import IdentityValidator
from fhirserver.integrations.dmp.factory import DmpDeliverer, build_dmp_client
from fhirserver.integrations.mssante.service import register as register_mssante
from fhirserver.integrations.outbox.store import OutboxQueue
from fhirserver.interactions.context import Context
from fhirserver.interactions.operations.cda import n1_generator
from fhirserver.profiles import profile_validator
from fhirserver.tddui import rules as tddui_rules


def configure(ctx: Context) -> Context:
    """Register the access policy, validators, hooks and services on a freshly built context."""
    # every context is policed, not only the web app's: Fhir(ctx, principal) in the CLI, the worker or a portal is
    # bounded like the API; a request without a principal is still an internal call (fhirserver.auth.policy)
    ctx.policy = ScopePolicy(ctx)
    identity = ctx.settings.identity
    ctx.validators.append(IdentityValidator(identity.ins_environment))  # national identifiers, RNIV status
    ctx.hooks.append(IdentityHook(identity.fr_core_version))  # RNIV wire form, downgrades, declared status
    ctx.hooks.append(DelegationHook())  # aidant delegation Consents (fhirserver.auth.delegation): 422 if malformed
    ctx.services.insi = build_insi_client(ctx.settings)  # INSi teleservice (simulator or SOAP seam)
    ctx.validators.append(profile_validator(ctx.settings))  # config/profiles/ (fhirserver.profiles)
    ctx.services.bundle_rules[tddui.BUNDLE] = tddui_rules.rule  # TDDUI import: create only
    ctx.services.cda_validator = build_cda_validator(ctx.settings)  # ANS kit: XSD + schematrons; None: no kit
    ctx.services.n1_generator = n1_generator  # the N1 CDA of a DocumentReference's file (DMP, MSSanté)
    dmp = build_dmp_client(ctx.settings)  # DMP: XDS.b SOAP or PDSm ([dmp] transport); opens nothing
    ctx.services.dmp = dmp
    ctx.services.outbox = OutboxQueue()  # operations queue documents in their own transaction ($send-to-dmp)
    ctx.services.deliverers["dmp"] = DmpDeliverer(dmp)  # outbox: kind -> Deliverer, used by `dui worker`
    ctx.services.audit = AuditTrail(ctx.repo, enabled=ctx.settings.audit.enabled)  # AuditEvents (fail closed)
    register_mssante(ctx)  # MSSanté: ctx.services.mssante + outbox deliverer "mssante"; no connection opened
    return ctx
