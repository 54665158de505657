"""Incoming MSSanté messages: a Maildir mail drop or an IMAP mailbox, read so that nothing is lost or ingested twice.

* **Maildir** (``[mssante] maildir``, the format of the delivery agents behind an MSSanté operator's mailbox;
  https://cr.yp.to/proto/maildir.html, folders as Maildir++): messages waiting in ``new/`` are handed over one by
  one; a processed one (ingested, or answered with an error notification) is moved to ``cur/`` with the ``S``
  (seen) flag; one that cannot be processed at all is moved to the ``.Error`` folder (a Maildir++ sub-folder a
  mail client shows) for a human. A message whose processing failed transiently stays in ``new/`` and is retried on
  the next poll. A rename is atomic, and ingestion is idempotent by document uniqueId, so a crash between storing
  and moving only causes a harmless second pass.
* **IMAP** (RFC 9051 via :mod:`imaplib`, TLS): unseen messages of ``INBOX`` are fetched with ``BODY.PEEK[]`` (the
  server does not mark them read), then flagged ``\\Seen`` once processed, or copied to the ``Erreurs`` mailbox and
  removed from the inbox when they cannot be processed. Password from ``DUI_MSSANTE_IMAP_PASSWORD``.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

__all__ = ["IMAP_PASSWORD_ENV", "ImapInbox", "Inbox", "InboxMessage", "MaildirInbox"]

IMAP_PASSWORD_ENV = "DUI_MSSANTE_IMAP_PASSWORD"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InboxMessage:
    key: str  # Maildir file name or IMAP UID
    raw: bytes


class Inbox(Protocol):
    """Where received messages wait. A message not acknowledged (``done`` / ``failed``) is handed over again on
    the next :meth:`pending` call."""

    def pending(self) -> Iterator[InboxMessage]: ...

    def done(self, key: str) -> None: ...

    def failed(self, key: str) -> None: ...

    def close(self) -> None: ...


class MaildirInbox:
    """A Maildir (``new/``, ``cur/``, ``tmp/``) with a Maildir++ ``.Error`` folder for unprocessable messages."""

    ERROR_FOLDER = ".Error"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        for sub in ("new", "cur", "tmp"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)
            (self.path / self.ERROR_FOLDER / sub).mkdir(parents=True, exist_ok=True)

    def pending(self) -> Iterator[InboxMessage]:
        for entry in sorted((self.path / "new").iterdir(), key=lambda p: p.name):
            if entry.is_file() and not entry.name.startswith("."):
                try:
                    raw = entry.read_bytes()
                except FileNotFoundError:  # taken by another poller meanwhile
                    continue
                yield InboxMessage(entry.name, raw)

    @staticmethod
    def _seen_name(key: str) -> str:
        base = key.split(":2,", 1)[0]
        return f"{base}:2,S"

    def _move(self, key: str, folder: Path) -> None:
        source = self.path / "new" / key
        try:
            os.replace(source, folder / "cur" / self._seen_name(key))
        except FileNotFoundError:
            log.warning("mssante inbox: message %s vanished before it was filed", key)

    def done(self, key: str) -> None:
        self._move(key, self.path)

    def failed(self, key: str) -> None:
        self._move(key, self.path / self.ERROR_FOLDER)

    def close(self) -> None:
        return None


class ImapClient(Protocol):
    """The part of :class:`imaplib.IMAP4` used here (a fake in the tests)."""

    def login(self, user: str, password: str) -> Any: ...

    def select(self, mailbox: str = ...) -> Any: ...

    def create(self, mailbox: str) -> Any: ...

    def uid(self, command: str, *args: Any) -> Any: ...

    def expunge(self) -> Any: ...

    def logout(self) -> Any: ...




class ImapInbox:
    """Unseen messages of an IMAP mailbox; ``connect`` opens the session (default: IMAP over TLS)."""

    def __init__(self, host: str, port: int, username: str, *, mailbox: str = "INBOX",
                 error_mailbox: str = "Erreurs", environ: Mapping[str, str] | None = None,
                 connect: Callable[[str, int], ImapClient] | None = None) -> None:
        env = os.environ if environ is None else environ
        password = env.get(IMAP_PASSWORD_ENV, "")
        if not host or not username or not password:
            raise ValueError(f"IMAP inbox needs [mssante] imap_host, imap_username and {IMAP_PASSWORD_ENV}")
        opener: Callable[[str, int], ImapClient] = connect or imaplib.IMAP4_SSL
        self.error_mailbox = error_mailbox
        self.client: ImapClient = opener(host, port)
        self.client.login(username, password)
        self.client.create(error_mailbox)  # "already exists" is answered NO, not raised
        status, _ = self.client.select(mailbox)
        if status != "OK":
            raise ValueError(f"IMAP mailbox {mailbox!r} cannot be selected")

    def pending(self) -> Iterator[InboxMessage]:
        status, data = self.client.uid("SEARCH", None, "UNSEEN")
        if status != "OK" or not data or not data[0]:
            return
        for uid in data[0].split():
            status, parts = self.client.uid("FETCH", uid, "(BODY.PEEK[])")
            if status != "OK":
                continue
            for part in parts or []:
                if isinstance(part, tuple) and len(part) == 2:
                    yield InboxMessage(uid.decode() if isinstance(uid, bytes) else str(uid), part[1])
                    break

    def done(self, key: str) -> None:
        self.client.uid("STORE", key, "+FLAGS", "(\\Seen)")

    def failed(self, key: str) -> None:
        status, _ = self.client.uid("COPY", key, self.error_mailbox)
        if status != "OK":  # keep it in the inbox (seen) rather than lose it
            self.client.uid("STORE", key, "+FLAGS", "(\\Seen)")
            return
        self.client.uid("STORE", key, "+FLAGS", "(\\Seen \\Deleted)")
        self.client.expunge()

    def close(self) -> None:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            self.client.logout()
