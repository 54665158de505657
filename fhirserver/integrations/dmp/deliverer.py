"""The outbox deliverer for kind ``"dmp"``: TD0.2 first, then provide-and-register (ITI-41 or ITI-65).

Outbox interface: :mod:`fhirserver.integrations.outbox.types`. Delivery is idempotent by uniqueId: a redelivery of
a document the DMP already has (same uniqueId, same hash) is reported as delivered ("already registered"); the
same uniqueId with other content, a closed or absent DMP, or any refusal is a PermanentError; network trouble
and DMP outages are TransientErrors (retried by the worker with backoff).

The VIHF actor is read from the CDA header (french-interop.md §6.3): the first author (IDNPS, name, profession
code), the custodian (Identifiant_Structure) and the healthCareFacility code (Secteur_Activite).
"""

from __future__ import annotations

from lxml import etree

from fhirserver.integrations.dmp.client import Actor, DmpClient, DmpRefused, Ins, check_visibility
from fhirserver.integrations.outbox import DeliveryResult, OutboxItem, PermanentError
from mappings.xds.metadata import INS_ROOTS

V3 = "urn:hl7-org:v3"
_N = {"h": V3}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


def _text(root: etree._Element, path: str) -> str:
    return str(root.xpath(f"string({path})", namespaces=_N)).strip()


def actor_from_cda(root: etree._Element) -> Actor:
    """The VIHF actor of a CDA document; ValueError naming what is missing."""
    author = "/h:ClinicalDocument/h:author[1]/h:assignedAuthor"
    ident = _text(root, f"{author}/h:id[1]/@extension") or _text(root, f"{author}/h:id[1]/@root")
    family = _text(root, f"{author}/h:assignedPerson/h:name/h:family[1]")
    given = _text(root, f"{author}/h:assignedPerson/h:name/h:given[1]")
    name = " ".join(x for x in (family.upper(), given) if x) or _text(
        root, f"{author}/h:assignedAuthoringDevice/h:softwareName")
    code = root.find("h:author/h:assignedAuthor/h:code", _N)
    roles = ((code.get("code", ""), code.get("codeSystem", ""), code.get("displayName", "")),) \
        if code is not None and code.get("code") else ()
    custodian = "/h:ClinicalDocument/h:custodian/h:assignedCustodian/h:representedCustodianOrganization/h:id[1]"
    structure = _text(root, f"{custodian}/@extension") or _text(root, f"{custodian}/@root")
    facility = ("/h:ClinicalDocument/h:componentOf/h:encompassingEncounter/h:location/h:healthCareFacility/"
                "h:code")
    sector_code, sector_system = _text(root, f"{facility}/@code"), _text(root, f"{facility}/@codeSystem")
    missing = [label for label, value in (("author id", ident), ("author name", name), ("author code", roles),
                                          ("custodian id", structure), ("healthCareFacility code", sector_code))
               if not value]
    if missing:
        raise ValueError(f"the CDA header cannot identify the DMP actor: missing {', '.join(missing)}")
    return Actor(ident, name, structure, f"{sector_code}^{sector_system}", roles)


def ins_from_cda(root: etree._Element) -> Ins:
    """The usager's INS (recordTarget/patientRole/id with an INS authority); ValueError when absent."""
    for ident in root.iterfind("h:recordTarget/h:patientRole/h:id", _N):
        if ident.get("root") in INS_ROOTS and ident.get("extension"):
            return Ins(ident.get("extension", ""), ident.get("root", ""))
    raise ValueError("the CDA recordTarget has no INS")


class DmpDeliverer:
    """Delivers ``dmp`` outbox items with a :class:`~fhirserver.integrations.dmp.client.DmpClient`.

    Item metadata used: ``visibility`` (DMP labels), ``replaces`` (uniqueId of the replaced document).
    """

    kind = "dmp"

    def __init__(self, client: DmpClient) -> None:
        self.client = client

    def deliver(self, item: OutboxItem) -> DeliveryResult:
        try:
            root = etree.fromstring(item.payload, _PARSER)
            actor, ins = actor_from_cda(root), ins_from_cda(root)
            labels = check_visibility(tuple(item.metadata.get("visibility") or ()))
        except (etree.XMLSyntaxError, ValueError) as exc:
            raise PermanentError(f"not deliverable to the DMP: {exc}"[:300]) from exc
        status = self.client.dmp_status(ins, actor)
        if not status.may_feed:
            raise DmpRefused(f"TD0.2: the usager's DMP cannot be fed (state {status.state})",
                             (f"DMP_{status.state.upper()}",))
        replaces = item.metadata.get("replaces") or None
        result = self.client.provide_and_register(item.payload, actor, visibility=labels,
                                                  replaces=str(replaces) if replaces else None)
        return DeliveryResult(remote_id=result.unique_id,
                              detail="already registered" if result.duplicate else "registered")
