"""The ANS kit validator (mappings.cda.validate) and `dui cda validate`, on the kit's own example documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from fhirserver.cli import main
from mappings.cda.validate import CdaValidator, KitError, kit_fingerprint, volet_schematrons
from tests.conftest import ANS_EXAMPLES, ANS_KIT, CDA_CACHE

NS = {"c": "urn:hl7-org:v3"}
N1 = ANS_EXAMPLES / "DOC_NON_STRUCTURE_CDA-R2-N1.xml"
EXPECTED_VOLETS = {
    "DOC_NON_STRUCTURE_CDA-R2-N1.xml": [],
    "IMG_CR_IMG_2024.01_CDA-R2-Niveau-1.xml": [],
    "DLU-EHPAD-DLU_2022.01.xml": ["DLU-EHPAD-DLU"],
    "DLU-EHPAD-FLUDT_2022.01.xml": ["DLU-EHPAD-FLUDT"],
    "DLU-EHPAD-FLUDR_2022.01.xml": ["DLU-EHPAD-FLUDR"],
}


def _without(path: Path, *xpaths: str) -> etree._Element:
    root = etree.parse(str(path)).getroot()
    for xp in xpaths:
        found = root.xpath(xp, namespaces=NS)
        assert found, f"{xp} is not in {path.name}"
        for node in found:
            node.getparent().remove(node)
    return root


@pytest.mark.parametrize("name", sorted(EXPECTED_VOLETS))
def test_official_examples_pass_xsd_and_their_schematrons(cda_validator: CdaValidator, name: str) -> None:
    """Every example of the kit passes the XSD, the structuration minimale and its volet's rules."""
    report = cda_validator.validate((ANS_EXAMPLES / name).read_bytes())
    assert report.schematrons == ("structuration-minimale", *EXPECTED_VOLETS[name])
    assert report.failures == ()
    assert report.fired_rules > 0  # the rules really ran on the document


def test_removed_ins_traits_and_header_elements_fail_with_the_kit_messages(cda_validator: CdaValidator) -> None:
    """The kit's negative control: realmCode, the XDS-SD templateId, the BR given name and the birth county."""
    root = _without(N1, "c:realmCode", 'c:templateId[@root="1.3.6.1.4.1.19376.1.2.20"]',
                    './/c:patient/c:name/c:given[@qualifier="BR"]', ".//c:birthplace//c:county")
    report = cda_validator.validate(root)
    assert not report.valid
    assert len(report.failures) == 5
    assert {f.source for f in report.failures} == {"structuration-minimale"}
    messages = " | ".join(f.message for f in report.failures)
    assert "traits de l'INS" in messages
    assert "realmCode" in messages
    assert all(f.location.startswith("/ClinicalDocument") for f in report.failures)


def test_schema_errors_carry_the_line(cda_validator: CdaValidator) -> None:
    """An element the CDA schema does not know is an XSD error with its line."""
    root = etree.parse(str(N1)).getroot()
    etree.SubElement(root, "{urn:hl7-org:v3}notACdaElement").text = "x"
    report = cda_validator.validate(etree.tostring(root), schematrons=[])
    assert [f.source for f in report.failures] == ["xsd"]
    assert "notACdaElement" in report.failures[0].message
    assert report.failures[0].location.startswith("line ")


def test_not_well_formed_xml_is_a_failure_not_an_exception(cda_validator: CdaValidator) -> None:
    """Bytes that are not XML give a report with one failure."""
    report = cda_validator.validate(b"<ClinicalDocument><unclosed></ClinicalDocument>")
    assert not report.valid
    assert "not well-formed" in report.failures[0].message


def test_entities_are_not_expanded(cda_validator: CdaValidator, tmp_path: Path) -> None:
    """An external entity is never resolved (no file is read through the document)."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    doc = (f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file://{secret}">]>'
           '<ClinicalDocument xmlns="urn:hl7-org:v3"><title>&x;</title></ClinicalDocument>').encode()
    report = cda_validator.validate(doc, schematrons=[])
    assert "TOP-SECRET" not in " ".join(f.message for f in report.failures)


def test_volets_come_from_the_template_ids() -> None:
    """The volet schematron is chosen from the document's templateId, header rules excluded."""
    for name, expected in EXPECTED_VOLETS.items():
        assert volet_schematrons(etree.parse(str(ANS_EXAMPLES / name)).getroot()) == expected


def test_compiled_schematrons_are_cached_on_disk(cda_validator: CdaValidator) -> None:
    """A second validator on the same cache reuses the compiled XSLT instead of compiling again."""
    compiled = cda_validator.compiled_path("structuration-minimale")
    before = compiled.stat().st_mtime_ns
    again = CdaValidator(ANS_KIT, CDA_CACHE)
    assert again.compiled_path("structuration-minimale") == compiled
    assert compiled.stat().st_mtime_ns == before
    assert compiled.parent.parent.parent.parent.name == f"kit-{kit_fingerprint(ANS_KIT)}"


def test_a_folder_that_is_not_the_kit_is_refused(tmp_path: Path) -> None:
    """A wrong kit location fails at once, naming what is missing."""
    with pytest.raises(KitError, match="no CDA schema"):
        CdaValidator(tmp_path, tmp_path / "cache")


def test_cli_exit_status_and_listing(tmp_path: Path, capsys: Any, cda_validator: CdaValidator) -> None:
    """`dui cda validate` exits 0 on valid files, 1 with the failed assertions listed, 2 without a kit."""
    bad = tmp_path / "bad.xml"
    bad.write_bytes(etree.tostring(_without(N1, "c:realmCode")))
    kit = ["--kit-dir", str(ANS_KIT)]
    assert main(["cda", "validate", *kit, str(N1)]) == 0
    assert "valid" in capsys.readouterr().out
    assert main(["cda", "validate", *kit, str(N1), str(bad)]) == 1
    out = capsys.readouterr().out
    assert "bad.xml: 1 error(s)" in out and "realmCode" in out and "at /ClinicalDocument" in out
    assert main(["cda", "validate", "--kit-dir", str(tmp_path), str(N1)]) == 2
    assert "no CDA schema" in capsys.readouterr().err
    assert main(["cda", "validate", *kit, str(tmp_path / "missing.xml")]) == 2


@pytest.mark.parametrize("name", ["DLU-EHPAD-DLU_2022.01.xml", "DLU-EHPAD-FLUDT_2022.01.xml"])
def test_body_rules_run_on_demand(cda_validator: CdaValidator, name: str) -> None:
    """The kit's section/entry rule sets (IHE.sch needs the case alias of one include) pass on the examples."""
    report = cda_validator.validate((ANS_EXAMPLES / name).read_bytes(), ["modeles-de-contenus", "modeles-ans", "ihe"])
    assert report.schematrons == ("modeles-de-contenus", "modeles-ans", "ihe")
    assert report.failures == ()
    assert report.fired_rules > 0
