"""DMP sandbox fixtures: a real threaded sandbox server on 127.0.0.1 (free port, SQLite file per test)."""

from __future__ import annotations

import pytest
from lxml import etree

from fhirserver.integrations.dmp.client import Actor, Ins
from fhirserver.integrations.dmp.deliverer import actor_from_cda, ins_from_cda
from fhirserver.integrations.dmp.sandbox import Server
from fhirserver.integrations.dmp.vihf import Lps, self_signed
from fhirserver.integrations.dmp.xds_client import SoapDmpClient
from tests.conftest import ANS_EXAMPLES

N1_PATH = ANS_EXAMPLES / "DOC_NON_STRUCTURE_CDA-R2-N1.xml"
LPS = Lps("LPS-TEST-1", "DUI server", "0.1.0", "")


@pytest.fixture(scope="session")
def n1() -> bytes:
    """The official ANS N1 example (PDF inside a CDA R2), byte for byte."""
    return N1_PATH.read_bytes()


@pytest.fixture(scope="session")
def n1_actor(n1: bytes) -> Actor:
    return actor_from_cda(etree.fromstring(n1))


@pytest.fixture(scope="session")
def n1_ins(n1: bytes) -> Ins:
    return ins_from_cda(etree.fromstring(n1))


@pytest.fixture()
def soap_client(sandbox: Server) -> SoapDmpClient:
    return SoapDmpClient(sandbox.url, self_signed, LPS, timeout=120)
