"""The access table of ``fhirserver/auth/README.md`` ("Who may do what"), tried cell by cell against a live server.

The test reads the README's table itself, so the documentation and the behaviour cannot drift apart: every principal
kind x resource family x interaction is one test. Refused writes are confirmed absent with an operator token; allowed
writes are undone by the operator before the next cell.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.auth.access_world import ACCOUNTS, FAMILIES, Family, World, live_world, send
from tests.auth.conftest import api

README = Path(__file__).resolve().parents[2] / "fhirserver" / "auth" / "README.md"
INTERACTIONS = ("read", "search", "create", "update", "patch", "delete")


def parse_table(text: str) -> dict[str, dict[str, dict[str, str]]]:
    """kind -> family -> interaction -> expected cell ("✓", "404", "403", "∅", "—"), from the README section."""
    section = text.split("## Who may do what", 1)[1].split("\n## ", 1)[0]
    table: dict[str, dict[str, dict[str, str]]] = {}
    kind = ""
    for line in section.splitlines():
        heading = re.match(r"#### (.+?) — ", line)
        if heading:
            kind = heading.group(1)
            table[kind] = {}
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if kind and len(cells) == 8 and cells[0] not in ("family", "---"):
            table[kind][cells[0]] = dict(zip(INTERACTIONS, cells[1:7], strict=True))
    return table


TABLE = parse_table(README.read_text(encoding="utf-8"))
CELLS = [(k, f, i, v) for k, row in TABLE.items() for f, cells in row.items() for i, v in cells.items() if v != "—"]


@pytest.fixture(scope="module")
def world(auth_context: Any) -> Iterator[World]:
    with live_world(auth_context) as found:
        yield found


# --- one cell -----------------------------------------------------------------------------------------

def _stored(world: World, rtype: str, rid: str) -> dict[str, Any]:
    resp = api(world.env, world.operator, f"{rtype}/{rid}")
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def _count(world: World, rtype: str) -> int:
    resp = api(world.env, world.operator, f"{rtype}?_summary=count")
    assert resp.status_code == 200, resp.text
    return int(resp.json()["total"])


def _restore(world: World, original: dict[str, Any]) -> None:
    body = {k: v for k, v in original.items() if k != "meta"}
    resp = api(world.env, world.operator, f"{original['resourceType']}/{original['id']}", "PUT", body)
    assert resp.status_code in (200, 201), resp.text


def _changed(family: Family, current: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in current.items() if k != "meta"}
    if family.revoke:
        return {**body, "status": "inactive"}
    return {**body, "language": "fr" if body.get("language") != "fr" else "fr-FR"}


def _patch_ops(family: Family, current: dict[str, Any]) -> list[dict[str, Any]]:
    if family.revoke:
        return [{"op": "replace", "path": "/status", "value": "inactive"}]
    return [{"op": "add", "path": "/language", "value": "fr" if current.get("language") != "fr" else "fr-FR"}]


def _expect(resp: requests.Response, expected: str, ok: int, where: str) -> None:
    if expected == "✓":
        assert resp.status_code == ok, (where, resp.status_code, resp.text[:300])
        return
    assert resp.status_code == int(expected), (where, resp.status_code, resp.text[:300])
    outcome = resp.json()
    assert outcome["resourceType"] == "OperationOutcome", where
    if expected == "403":
        assert outcome["issue"][0]["code"] == "forbidden", (where, outcome)


def run_cell(world: World, kind: str, family_name: str, interaction: str, expected: str) -> None:
    family = FAMILIES[family_name]
    token = world.tokens[kind]
    where = f"{kind} / {family_name} / {interaction}"
    path = f"{family.rtype}/{family.rid}"
    if interaction == "read":
        _expect(api(world.env, token, path), expected, 200, where)
    elif interaction == "search":
        resp = api(world.env, token, f"{family.rtype}?_id={family.rid}")
        if expected in ("✓", "∅"):
            assert resp.status_code == 200, (where, resp.text[:300])
            ids = [e["resource"]["id"] for e in resp.json().get("entry", []) if e["search"]["mode"] == "match"]
            assert ids == ([family.rid] if expected == "✓" else []), (where, ids)
        else:
            _expect(resp, expected, 200, where)
    elif interaction == "create":
        before = _count(world, family.rtype)
        resp = send(world, token, family.rtype, "POST", family.new())
        _expect(resp, expected, 201, where)
        if resp.status_code == 201:
            created = resp.json()["id"]
            assert api(world.env, world.operator, f"{family.rtype}/{created}", "DELETE").status_code == 204
        else:
            assert _count(world, family.rtype) == before, (where, "a refused create wrote something")
    else:
        assert family.rid is not None
        original = _stored(world, family.rtype, family.rid)
        if interaction == "update":
            resp = send(world, token, path, "PUT", _changed(family, original))
            ok = 200
        elif interaction == "patch":
            resp = send(world, token, path, "PATCH", _patch_ops(family, original), patch=True)
            ok = 200
        else:
            resp = send(world, token, path, "DELETE", None)
            ok = 204
        _expect(resp, expected, ok, where)
        if resp.status_code == ok:
            _restore(world, original)
        else:
            after = _stored(world, family.rtype, family.rid)
            assert after["meta"]["versionId"] == original["meta"]["versionId"], (where, "a refused write changed it")


def test_the_table_covers_every_kind_family_and_interaction() -> None:
    """The README's table has a row for every family under every principal kind, and each cell is a known value."""
    assert set(TABLE) == {*ACCOUNTS, "operator", "system (read-only)"}
    for kind, rows in TABLE.items():
        assert set(rows) == set(FAMILIES), kind
        for cells in rows.values():
            assert set(cells.values()) <= {"✓", "404", "403", "∅", "—"}, (kind, cells)


@pytest.mark.parametrize(("kind", "family", "interaction", "expected"), CELLS,
                         ids=[f"{k}|{f}|{i}" for k, f, i, _ in CELLS])
def test_access_table_cell(world: World, kind: str, family: str, interaction: str, expected: str) -> None:
    """One cell of the access table: the interaction answers as the README says, and a refusal writes nothing."""
    run_cell(world, kind, family, interaction, expected)
