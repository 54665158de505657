"""A receiving end for the worker subprocess tests: a loopback HTTP server that stores documents by uniqueId
(idempotent, as the DMP is: a document already there is answered "already registered") and records every request,
and the deliverer ``dui worker --deliverer dmp=tests.integrations.outbox.recorder:build`` uses to reach it.

Options of the server: ``delay`` (seconds the answer waits after the document is stored: a window for a kill
between the delivery and its record) and ``rendezvous`` (the first two requests wait for each other: proof that
two workers hold two different items at the same time).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

from fhirserver.integrations.outbox.types import DeliveryResult, OutboxItem, TransientError

URL_ENV = "DUI_TEST_RECORDER_URL"


@dataclass
class Received:
    unique_id: str
    document_id: str
    worker: int
    duplicate: bool


@dataclass
class Recorder:
    delay: float = 0.0
    rendezvous: bool = False
    received: list[Received] = field(default_factory=list)
    stored: dict[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._barrier = threading.Barrier(2, timeout=60)
        self._waited = 0
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status, answer = recorder.handle(body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return None

        class Server(ThreadingHTTPServer):
            daemon_threads = False
            block_on_close = True  # server_close() joins the handler threads: no socket left open

            def handle_error(self, request: Any, client_address: Any) -> None:
                return None  # a client killed mid-request (the point of the kill tests)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/deliver"

    def handle(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.rendezvous:
            with self._lock:
                wait = self._waited < 2
                self._waited += 1
            if wait:
                try:
                    self._barrier.wait()
                except threading.BrokenBarrierError:
                    return 503, {"error": "no second worker came"}
        with self._lock:
            uid = body["unique_id"]
            duplicate = uid in self.stored
            if not duplicate:
                self.stored[uid] = body["payload"].encode()
            self.received.append(Received(uid, body["document_id"], int(body["worker"]), duplicate))
        if self.delay:
            threading.Event().wait(self.delay)
        return 200, {"unique_id": uid, "duplicate": duplicate}

    def start(self) -> Recorder:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def count(self, unique_id: str) -> int:
        with self._lock:
            return sum(1 for r in self.received if r.unique_id == unique_id)

    def total(self) -> int:
        with self._lock:
            return len(self.received)


class RecordingDeliverer:
    kind = "dmp"

    def __init__(self, url: str) -> None:
        self.url = url

    def deliver(self, item: OutboxItem) -> DeliveryResult:
        try:
            resp = requests.post(self.url, json={
                "unique_id": item.unique_id, "document_id": item.document_id, "worker": os.getpid(),
                "payload": item.payload.decode()}, timeout=30)
        except requests.RequestException as exc:
            raise TransientError(f"recorder unreachable: {type(exc).__name__}") from exc
        if resp.status_code != 200:
            raise TransientError(f"recorder answered HTTP {resp.status_code}")
        answer = resp.json()
        return DeliveryResult(answer["unique_id"], "already registered" if answer["duplicate"] else "registered")


def build(settings: Any) -> RecordingDeliverer:
    """The ``--deliverer`` factory: the recorder's URL comes from the environment."""
    return RecordingDeliverer(os.environ[URL_ENV])
