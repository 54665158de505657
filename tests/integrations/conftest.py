"""Fixtures shared by the integration tests: a real SMTP server (MSSanté, outbox) and the DMP sandbox (DMP, outbox)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from fhirserver.integrations.dmp.sandbox import Sandbox, Server
from fhirserver.integrations.dmp.sandbox_store import Store
from tests.integrations.mssante.conftest import Recorder, SmtpServer, free_port


@pytest.fixture()
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that records every message it accepts."""
    recorder = Recorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, recorder)
    finally:
        controller.stop()


@pytest.fixture()
def sandbox(tmp_path: Path, cda_validator: Any) -> Iterator[Server]:
    """The DMP sandbox validating what it receives with the ANS kit, on a fresh SQLite store."""
    cda_validator.warm_up()  # the first use loads the schematrons (seconds): not inside a client's timeout
    server = Server(Sandbox(Store(str(tmp_path / "dmp.sqlite3")), cda_validator)).start()
    try:
        yield server
    finally:
        server.stop()
        server.sandbox.store.close()
