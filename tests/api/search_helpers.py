"""Helpers shared by the search tests: write queries readably, send them encoded as a client would."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode


def enc(query: str) -> str:
    """Percent-encode the values of ``Type?a=b&c=d`` (accents, ``+``, ``|``, backslashes) as a client would."""
    path, _, qs = query.partition("?")
    pairs = [p.partition("=") for p in qs.split("&") if p]
    return path + ("?" + urlencode([(k, v) for k, _, v in pairs]) if pairs else "")


def ids(fhir: Any, query: str) -> set[str]:
    """The ids of the matches of an (unencoded) search."""
    return fhir.ids(enc(query))  # type: ignore[no-any-return]


def bundle(fhir: Any, query: str) -> dict[str, Any]:
    """The searchset Bundle of an (unencoded) search, asserting 200."""
    resp = fhir.get(enc(query))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()  # type: ignore[no-any-return]
