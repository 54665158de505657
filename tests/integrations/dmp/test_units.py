"""Units of the DMP package without a server: MTOM packaging, VIHF signing and verification, the client factory,
the actor read from the CDA header."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from lxml import etree

from fhirserver.integrations.dmp import soap
from fhirserver.integrations.dmp.client import Actor, Ins
from fhirserver.integrations.dmp.deliverer import actor_from_cda
from fhirserver.integrations.dmp.factory import build_dmp_client
from fhirserver.integrations.dmp.pdsm import PdsmDmpClient
from fhirserver.integrations.dmp.pdsm_bundle import dtm, instant
from fhirserver.integrations.dmp.vihf import (
    MANDATORY,
    Lps,
    VihfError,
    build_assertion,
    generate_self_signed,
    load_signer,
    self_signed,
    verify_assertion,
)
from fhirserver.integrations.dmp.xds_client import SoapDmpClient
from fhirserver.settings import load_settings

ACTOR = Actor("801234534765", "CAMPARINI Marcel", "1120459876", "SA07^1.2.250.1.71.4.2.4",
              (("G15_10/SM03", "1.2.250.1.213.1.1.4.5", "Médecin - Biologie médicale (SM)"),))
INS = Ins("279035121518989", "1.2.250.1.213.1.4.10")


def test_mtom_round_trip_keeps_binary_bytes() -> None:
    """An MTOM package carries arbitrary bytes (CRLF, dashes, NUL) unchanged and the envelope as the root part."""
    body = etree.Element("{urn:x}Body")
    env = soap.envelope(soap.PROVIDE, body, to="http://dmp/soap")
    data = b"\r\n--MIMEBoundary_fake\r\n\x00\xff" * 100
    ctype, payload = soap.pack(env, soap.PROVIDE, {"doc1@dui.local": (data, "text/xml")})
    msg = soap.parse(ctype, payload)
    assert msg.action == soap.PROVIDE
    assert msg.attachments == {"doc1@dui.local": data}
    assert msg.body.tag == "{urn:x}Body"


def test_parse_refuses_what_is_not_soap() -> None:
    """Not XML, no Action, and a foreign media type are precise SoapErrors."""
    with pytest.raises(soap.SoapError, match="well-formed"):
        soap.parse("application/soap+xml", b"<not xml")
    env = etree.tostring(etree.Element(f"{{{soap.SOAP}}}Envelope"))
    with pytest.raises(soap.SoapError, match="Action"):
        soap.parse("application/soap+xml", env)
    with pytest.raises(soap.SoapError, match="unsupported content type"):
        soap.parse("application/json", b"{}")


def test_vihf_carries_the_mandatory_attributes_and_verifies() -> None:
    """The assertion is signed, carries every mandatory VIHF 4.0 attribute and the INS as resource-id."""
    assertion = build_assertion(ACTOR, INS, self_signed(), Lps("ID-1", "DUI server", "0.1.0", "HOMOL-1"))
    claims = verify_assertion(etree.fromstring(etree.tostring(assertion)))
    assert all(claims.attributes.get(name) for name in MANDATORY)
    assert claims.first("urn:oasis:names:tc:xacml:2.0:resource:resource-id") == \
        "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"
    assert (claims.first("VIHF_Version"), claims.first("Authentification_Mode")) == ("4.0", "INDIRECTE")
    assert claims.first("LPS_ID_HOMOLOGATION_DMP") == "HOMOL-1" and claims.name_id == ACTOR.id
    assert claims.issuer == self_signed().issuer


def test_vihf_expired_and_untrusted_are_refused() -> None:
    """An assertion past NotOnOrAfter, or signed by a certificate outside the trusted list, is refused."""
    old = build_assertion(ACTOR, INS, self_signed(), Lps(), now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    with pytest.raises(VihfError) as expired:
        verify_assertion(old)
    assert expired.value.code == "wsse:MessageExpired"
    fresh = build_assertion(ACTOR, INS, self_signed(), Lps())
    stranger = generate_self_signed()
    with pytest.raises(VihfError) as untrusted:
        verify_assertion(fresh, trusted=[stranger.cert])
    assert untrusted.value.code == "wsse:FailedAuthentication"
    assert verify_assertion(fresh, trusted=[self_signed().cert]).name_id == ACTOR.id


def test_structure_certificate_from_the_settings(tmp_path: Path) -> None:
    """dmp_certificate_file / dmp_key_file are used when set; one without the other is a configuration error."""
    signer = generate_self_signed()
    cert, key = tmp_path / "cachet.pem", tmp_path / "cachet.key"
    cert.write_bytes(signer.cert.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(signer.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()))
    loaded = load_signer(load_settings(dmp_certificate_file=str(cert), dmp_key_file=str(key)))
    assert loaded.cert == signer.cert
    claims = verify_assertion(build_assertion(ACTOR, INS, loaded, Lps()), trusted=[signer.cert])
    assert claims.issuer == signer.issuer
    with pytest.raises(ValueError, match="together"):
        load_signer(load_settings(dmp_certificate_file=str(cert)))


def test_factory_builds_the_configured_transport_without_connecting() -> None:
    """build_dmp_client gives the SOAP or PDSm client; nothing listens on the URL and nothing is contacted."""
    soap_client = build_dmp_client(load_settings(dmp_url="http://127.0.0.1:9", dmp_transport="soap"))
    pdsm_client = build_dmp_client(load_settings(dmp_url="http://127.0.0.1:9", dmp_transport="pdsm"))
    assert isinstance(soap_client, SoapDmpClient) and soap_client.endpoint == "http://127.0.0.1:9/soap"
    assert isinstance(pdsm_client, PdsmDmpClient) and pdsm_client.base == "http://127.0.0.1:9/fhir"


def test_actor_from_the_n1_header(n1: bytes) -> None:
    """The VIHF actor comes from the CDA author, custodian and healthCareFacility."""
    assert actor_from_cda(etree.fromstring(n1)) == ACTOR


def test_actor_needs_an_identified_author(n1: bytes) -> None:
    """A header without an author id cannot be sent: the message names what is missing."""
    root = etree.fromstring(n1)
    for ident in root.iterfind("{urn:hl7-org:v3}author/{urn:hl7-org:v3}assignedAuthor/{urn:hl7-org:v3}id"):
        ident.getparent().remove(ident)
    with pytest.raises(ValueError, match="author id"):
        actor_from_cda(root)


@pytest.mark.parametrize(("dtm_value", "fhir"), [("20210401124745", "2021-04-01T12:47:45Z"),
                                                  ("20210401", "2021-04-01"), ("202104011247", "2021-04-01T12:47:00Z")])
def test_dates_between_xds_and_fhir(dtm_value: str, fhir: str) -> None:
    """XDS DTM (UTC) <-> FHIR dateTime."""
    assert instant(dtm_value) == fhir
    assert dtm(fhir) == (dtm_value.ljust(14, "0") if len(dtm_value) > 8 else dtm_value)


def test_domain_registers_the_dmp_client_and_the_outbox_deliverer(context: Any) -> None:
    """The app context has the configured DMP client and the outbox deliverer of kind 'dmp' using it."""
    client = context.services.dmp
    assert isinstance(client, SoapDmpClient)
    deliverer = context.services.deliverers["dmp"]
    assert deliverer.kind == "dmp" and deliverer.client is client


def test_store_written_before_the_author_columns_still_opens(tmp_path: Path) -> None:
    """A sandbox store from an earlier version gains the author columns; its rows read with empty authors."""
    import sqlite3

    from fhirserver.integrations.dmp.sandbox_store import Store

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE entries (entry_uuid TEXT PRIMARY KEY, lid TEXT NOT NULL, version INTEGER NOT NULL,"
                     " unique_id TEXT NOT NULL, patient_id TEXT NOT NULL, status TEXT NOT NULL, hash TEXT NOT NULL,"
                     " size INTEGER NOT NULL, confidentiality TEXT NOT NULL, class_code TEXT NOT NULL,"
                     " type_code TEXT NOT NULL, title TEXT NOT NULL, object_xml BLOB, resource_json TEXT,"
                     " replaced_by TEXT NOT NULL DEFAULT '', created TEXT NOT NULL)")
        conn.execute("INSERT INTO entries VALUES ('urn:uuid:1', 'urn:uuid:1', 1, '1.2.3', 'p', 's', 'h', 1, '[]',"
                     " '10', 't', 'x', NULL, NULL, '', '2026-01-01')")
    store = Store(str(path))
    try:
        entry = store.current("1.2.3")
        assert entry is not None and (entry.author_id, entry.author_structure) == ("", "")
    finally:
        store.close()
