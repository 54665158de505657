"""Application factory: the only place that knows every part (https://flask.palletsprojects.com/en/stable/patterns/appfactories/).

Nothing connects to a database or reads a secret at import time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import Flask, Response

from fhirserver.interactions.context import Context
from fhirserver.search.parse import SearchParser
from fhirserver.search.registry import Registry
from fhirserver.settings import Settings, load_settings
from fhirserver.storage.sql.db import make_engine
from fhirserver.storage.sql.repository import SqlRepository


def build_registry(settings: Settings) -> Registry:
    """Official R4 parameters plus the extra bundles named in the configuration."""
    from fhirserver.fhir.definitions import search_parameter_bundle

    definitions: list[dict[str, Any]] = list(search_parameter_bundle())
    for name in settings.search.extra_bundles:
        path = Path(settings.config_dir) / name
        bundle = json.loads(path.read_text(encoding="utf-8"))
        definitions.extend(e["resource"] for e in bundle.get("entry", []) if "resource" in e)
    return Registry(definitions)


def build_context(settings: Settings) -> Context:
    engine = make_engine(settings.database.url, pool_size=settings.database.pool_size,
                         statement_timeout_ms=settings.database.statement_timeout_ms)
    if settings.database.is_sqlite and settings.database.auto_upgrade_sqlite:
        from fhirserver.storage.sql.migrate import upgrade

        upgrade(engine)
    registry = build_registry(settings)
    search = settings.search
    repo = SqlRepository(engine, registry, max_include_depth=search.max_include_depth,
                         max_includes=search.max_includes)
    parser = SearchParser(registry, search.default_count, search.max_count, search.max_or_values)
    from fhirserver.domain import configure

    return configure(Context(settings=settings, repo=repo, registry=registry, parser=parser))


def create_app(settings: Settings | None = None, context: Context | None = None) -> Flask:
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config["DUI_CONTEXT"] = context or build_context(settings)
    from fhirserver.api.fhir import bp, error_response

    app.register_blueprint(bp, url_prefix="/fhir")
    from fhirserver.web import init_app as init_web

    # the web shell: pages, browser sessions, error handlers (500 OperationOutcome under /fhir, French pages)
    init_web(app, app.config["DUI_CONTEXT"], error_response)
    from fhirserver.auth import init_app as init_auth

    init_auth(app, app.config["DUI_CONTEXT"])

    @app.get("/health")
    def health() -> Response:
        return Response('{"status":"ok"}', content_type="application/json")

    return app
