"""``dui dmp-sandbox`` as a real process: it serves on the port asked, keeps its documents in the store file across
a restart, and refuses a kit directory that does not exist."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from fhirserver.integrations.dmp.client import Actor, Ins
from fhirserver.integrations.dmp.vihf import self_signed
from fhirserver.integrations.dmp.xds_client import SoapDmpClient

from .conftest import LPS

DUI = os.path.join(os.path.dirname(sys.executable), "dui")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def sandbox_process(store: Path, port: int, *extra: str) -> Iterator[str]:
    """``dui dmp-sandbox`` without a kit (well-formedness only: the kit is tested with the in-process sandbox)."""
    proc = subprocess.Popen([DUI, "dmp-sandbox", "--port", str(port), "--store", str(store), "--kit-dir", "",
                             *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(url + "/_sandbox/health", timeout=2).json()["status"] == "ok":
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dmp-sandbox did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


def test_sandbox_process_keeps_documents_across_restarts(tmp_path: Path, n1: bytes, n1_actor: Actor,
                                                         n1_ins: Ins) -> None:
    """A document sent to one sandbox process is still there, byte for byte, in the next one on the same store."""
    store = tmp_path / "sandbox.sqlite3"
    with sandbox_process(store, _free_port()) as url:
        assert not SoapDmpClient(url, self_signed, LPS).provide_and_register(n1, n1_actor).duplicate
    with sandbox_process(store, _free_port()) as url:
        client = SoapDmpClient(url, self_signed, LPS)
        assert client.retrieve(n1_ins, n1_actor, "1.3.6.1.4.1.19376.1.2.20.12345.1.1") == n1
        assert client.provide_and_register(n1, n1_actor).duplicate
        [doc] = requests.get(url + "/_sandbox/documents", timeout=10).json()
        assert (doc["registered"], doc["duplicates"]) == (1, 1)


def test_missing_kit_dir_is_a_clear_error(tmp_path: Path) -> None:
    """--kit-dir naming no directory stops with exit status 2 and says which."""
    done = subprocess.run([DUI, "dmp-sandbox", "--port", "0", "--store", str(tmp_path / "s.sqlite3"),
                           "--kit-dir", str(tmp_path / "nowhere")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "CDA kit directory does not exist" in done.stderr and "nowhere" in done.stderr


def test_dmp_state_option_sets_td02(tmp_path: Path, n1_actor: Actor, n1_ins: Ins) -> None:
    """--dmp-state INS=closed makes TD0.2 report a closed DMP for that usager."""
    with sandbox_process(tmp_path / "s.sqlite3", _free_port(), "--dmp-state", f"{n1_ins.value}=closed") as url:
        status = SoapDmpClient(url, self_signed, LPS).dmp_status(n1_ins, n1_actor)
    assert (status.state, status.may_feed) == ("closed", False)


def test_bad_dmp_state_is_a_clear_error(tmp_path: Path) -> None:
    """An unknown state is refused with exit status 2."""
    done = subprocess.run([DUI, "dmp-sandbox", "--port", "0", "--store", str(tmp_path / "s.sqlite3"),
                           "--kit-dir", "", "--dmp-state", "279035121518989=sleeping"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "active, closed, absent" in done.stderr


def test_trust_cert_must_be_a_certificate(tmp_path: Path) -> None:
    """--trust-cert naming a file that is not a PEM certificate stops with exit status 2."""
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    done = subprocess.run([DUI, "dmp-sandbox", "--port", "0", "--store", str(tmp_path / "s.sqlite3"),
                           "--kit-dir", "", "--trust-cert", str(junk)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--trust-cert: not a PEM certificate" in done.stderr
