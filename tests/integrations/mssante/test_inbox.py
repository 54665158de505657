"""Inboxes (fhirserver.integrations.mssante.inbox): a Maildir on disk and IMAP through a local fake client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fhirserver.integrations.mssante.inbox import IMAP_PASSWORD_ENV, ImapInbox, MaildirInbox


def _drop(root: Path, name: str, data: bytes) -> None:
    (root / "tmp" / name).write_bytes(data)
    (root / "tmp" / name).rename(root / "new" / name)


def test_maildir_files_processed_and_failed_messages(tmp_path: Path) -> None:
    """pending() lists new/; done() moves to cur/ flagged seen, failed() to the .Error folder; nothing is lost."""
    inbox = MaildirInbox(tmp_path / "inbox")
    root = tmp_path / "inbox"
    _drop(root, "1.a", b"one")
    _drop(root, "2.b", b"two")
    assert [(m.key, m.raw) for m in inbox.pending()] == [("1.a", b"one"), ("2.b", b"two")]
    inbox.done("1.a")
    inbox.failed("2.b")
    assert list(inbox.pending()) == []
    assert (root / "cur" / "1.a:2,S").read_bytes() == b"one"
    assert (root / ".Error" / "cur" / "2.b:2,S").read_bytes() == b"two"


def test_maildir_unacknowledged_message_is_offered_again(tmp_path: Path) -> None:
    """A message neither done nor failed (transient failure) is handed over on the next poll."""
    inbox = MaildirInbox(tmp_path)
    _drop(tmp_path, "1.a", b"one")
    assert [m.key for m in inbox.pending()] == ["1.a"]
    assert [m.key for m in inbox.pending()] == ["1.a"]


class FakeImap:
    """An in-memory IMAP server as seen through imaplib's UID commands."""

    def __init__(self, messages: dict[str, bytes]) -> None:
        self.messages = dict(messages)
        self.flags: dict[str, set[str]] = {uid: set() for uid in messages}
        self.folders: dict[str, list[bytes]] = {"INBOX": [], "Erreurs": []}
        self.logged_in: tuple[str, str] | None = None
        self.closed = False

    def login(self, user: str, password: str) -> Any:
        self.logged_in = (user, password)
        return "OK", [b"logged in"]

    def create(self, mailbox: str) -> Any:
        return ("NO", [b"exists"]) if mailbox in self.folders else ("OK", [b""])

    def select(self, mailbox: str = "INBOX") -> Any:
        return ("OK", [str(len(self.messages)).encode()]) if mailbox in self.folders else ("NO", [b""])

    def uid(self, command: str, *args: Any) -> Any:
        if command == "SEARCH":
            unseen = [u for u in self.messages if "\\Seen" not in self.flags[u]]
            return "OK", [" ".join(unseen).encode()]
        uid = args[0].decode() if isinstance(args[0], bytes) else args[0]
        if command == "FETCH":
            assert args[1] == "(BODY.PEEK[])"  # never marks the message read by itself
            return "OK", [(f"{uid} (UID {uid} BODY[] {{3}}".encode(), self.messages[uid]), b")"]
        if command == "STORE":
            self.flags[uid] |= set(args[2].strip("()").split())
            return "OK", [b""]
        if command == "COPY":
            self.folders[args[1]].append(self.messages[uid])
            return "OK", [b""]
        raise AssertionError(command)

    def expunge(self) -> Any:
        for uid in [u for u, f in self.flags.items() if "\\Deleted" in f]:
            del self.messages[uid]
        return "OK", [b""]

    def logout(self) -> Any:
        self.closed = True
        return "BYE", [b""]


def test_imap_unseen_messages_are_flagged_or_moved() -> None:
    """Unseen messages are fetched with PEEK; done() flags \\Seen, failed() copies to Erreurs and expunges."""
    fake = FakeImap({"7": b"seven", "8": b"eight"})
    inbox = ImapInbox("imap.example", 993, "dui", environ={IMAP_PASSWORD_ENV: "secret"},
                      connect=lambda host, port: fake)
    assert fake.logged_in == ("dui", "secret")
    assert [(m.key, m.raw) for m in inbox.pending()] == [("7", b"seven"), ("8", b"eight")]
    inbox.done("7")
    inbox.failed("8")
    assert list(inbox.pending()) == []
    assert fake.folders["Erreurs"] == [b"eight"] and "8" not in fake.messages
    assert "\\Seen" in fake.flags["7"] and fake.messages["7"] == b"seven"
    inbox.close()
    assert fake.closed


def test_imap_needs_its_password_from_the_environment() -> None:
    """Without DUI_MSSANTE_IMAP_PASSWORD the inbox is not opened."""
    with pytest.raises(ValueError, match=IMAP_PASSWORD_ENV):
        ImapInbox("imap.example", 993, "dui", environ={}, connect=lambda host, port: FakeImap({}))
