"""Fixtures of the web shell tests: the live authorization app of tests/auth (``env``, ``records``) with
probe portal pages registered before its first request, and the app of tests/conftest.py (``app``, auth
off)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from flask import Blueprint, Flask, g

from fhirserver.auth.principal import Principal
from fhirserver.errors import FhirError
from fhirserver.interactions.client import Fhir
from fhirserver.web import fhir_error_page, login_required, page, web_state
from tests.auth.conftest import Env, auth_context, env, login, records, signing_key_file  # noqa: F401

SECRET = "Jeanne Martin née le 2 avril 1931"  # what an exception text might carry: never in a response


@dataclass
class Probe:
    """What the probe pages saw: the principal of each request (``g.principal``)."""

    seen: list[Principal] = field(default_factory=list)


def add_probes(app: Flask) -> Probe:
    """Probe pages: ``/portail/sonde`` (usagers; GET, POST), ``/pro/sonde``, ``/sonde/panne`` (raises)."""
    probe = Probe()
    bp = Blueprint("probe", __name__)

    @bp.route("/portail/sonde", methods=["GET", "POST"])
    @login_required(kind="usager")
    def usager() -> Any:
        probe.seen.append(g.principal)
        return page("web/error.html", title="Sonde", message=f"principal {g.principal.fhir_user}")

    @bp.get("/pro/sonde")
    @login_required(kind="professional")
    def professional() -> Any:
        probe.seen.append(g.principal)
        return page("web/error.html", title="Sonde", message=f"principal {g.principal.fhir_user}")

    @bp.get("/portail/usager/<patient_id>")
    @login_required(kind="usager")
    def usager_record(patient_id: str) -> Any:
        try:
            patient = Fhir(web_state().ctx, g.principal).read("Patient", patient_id)
        except FhirError as error:
            return fhir_error_page(error)
        return page("web/error.html", title="Dossier", message=patient["name"][0]["family"])

    @bp.get("/sonde/panne")
    def broken() -> Any:
        raise RuntimeError(SECRET)

    app.register_blueprint(bp)
    return probe


@dataclass
class Portal:
    env: Env
    probe: Probe


@pytest.fixture()
def portal(records: Env) -> Portal:  # noqa: F811
    """The live app with the probe pages, jeanne (usager of p1) and dr1 (professional)."""
    probe = add_probes(records.app)
    records.add_user("jeanne", "Patient/p1")
    records.add_user("dr1", "Practitioner/dr1")
    return Portal(records, probe)


def signed_in(portal: Portal, username: str = "jeanne", next_url: str = "/portail/sonde") -> requests.Session:
    """A browser signed in with a local account, back on ``next_url``."""
    session = requests.Session()
    resp = login(portal.env, session, username, next_url=next_url)
    assert resp.status_code == 303 and resp.headers["Location"] == next_url, resp.text
    return session


@pytest.fixture()
def web_app(app: Flask) -> tuple[Flask, Probe]:
    """The app of tests/conftest.py (auth off) with the probe pages."""
    return app, add_probes(app)
