"""``build_dmp_client(settings)``: the DMP client the settings ask for (``[dmp] transport``: soap or pdsm).

Building a client opens no connection and reads no key: the VIHF signer (``[dmp] certificate_file`` /
``key_file``, or a per-process self-signed certificate) is loaded on first use.
"""

from __future__ import annotations

import functools

from fhirserver.integrations.dmp.client import DmpClient
from fhirserver.integrations.dmp.deliverer import DmpDeliverer
from fhirserver.integrations.dmp.vihf import Lps, load_signer
from fhirserver.integrations.dmp.xds_client import SoapDmpClient
from fhirserver.settings import Settings

__all__ = ["DmpDeliverer", "build_dmp_client", "build_dmp_deliverer"]


def build_dmp_client(settings: Settings) -> DmpClient:
    """The SOAP (XDS.b) or PDSm (FHIR) client for ``settings.dmp.url``."""
    dmp = settings.dmp
    lps = Lps(dmp.lps_id, dmp.lps_name, dmp.lps_version, dmp.lps_homologation)
    signer = functools.partial(load_signer, settings)
    if settings.dmp.transport == "pdsm":
        from fhirserver.integrations.dmp.pdsm import PdsmDmpClient

        return PdsmDmpClient(settings.dmp.url, signer, lps, timeout=settings.dmp.timeout_seconds)
    return SoapDmpClient(settings.dmp.url, signer, lps, timeout=settings.dmp.timeout_seconds)


def build_dmp_deliverer(settings: Settings) -> DmpDeliverer:
    """The outbox deliverer of kind ``dmp`` over the configured client."""
    return DmpDeliverer(build_dmp_client(settings))
