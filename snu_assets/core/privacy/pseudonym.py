"""Keyed-hash pseudonyms for MongoDB ids.

``HMAC-SHA256(key, "<namespace>:<24-hex id>")`` truncated to 128 bits (32 hex characters):
stable across runs (re-running a partition gives the same ids), joinable across tables (the
same young has the same pseudonym everywhere), and not reversible without the key, which
never enters PostgreSQL, Dagster run config or logs.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

from bson import ObjectId

PSEUDONYM_HEX_LENGTH = 32
#: pseudonyms kept for reuse (bounded memory: cleared when full)
MEMO_SIZE = 100_000


class MissingPseudonymKey(RuntimeError):
    pass


#: the constant whose keyed hash identifies a key (issue #21): stored in PostgreSQL, it tells
#: which key wrote the pseudonyms without revealing it
FINGERPRINT_CONSTANT = b"snu-assets pseudonym key fingerprint v1"
FINGERPRINT_HEX_LENGTH = 16


def key_fingerprint(key: str | bytes) -> str:
    """``HMAC-SHA256(key, constant)``, truncated: the same key always gives the same
    fingerprint, another key another one, and the key cannot be recovered from it."""
    if isinstance(key, str):
        key = key.encode()
    digest = hmac.new(key, FINGERPRINT_CONSTANT, hashlib.sha256).hexdigest()
    return digest[:FINGERPRINT_HEX_LENGTH]


class Pseudonymizer:
    def __init__(self, key: str | bytes):
        if isinstance(key, str):
            key = key.encode()
        if len(key) < 16:
            raise MissingPseudonymKey("SNU_PSEUDONYM_KEY must hold at least 16 characters")
        #: which key this is (never the key): compared with the schema's (issue #21)
        self.fingerprint = key_fingerprint(key)
        # keyed once; each pseudonym copies this state instead of re-keying
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)
        #: a record's id recurs in each of its patches: pseudonyms already computed
        self._known: dict[tuple[str, str], str] = {}

    def __repr__(self) -> str:  # never show the key
        return "Pseudonymizer(<key hidden>)"

    def __call__(self, namespace: str, value: ObjectId | str) -> str:
        text = str(value).lower()
        if namespace == "patch":  # each patch is met once: nothing to remember
            return self._digest(namespace, text)
        known = self._known.get((namespace, text))
        if known is None:
            known = self._digest(namespace, text)
            if len(self._known) >= MEMO_SIZE:
                self._known.clear()
            self._known[(namespace, text)] = known
        return known

    def _digest(self, namespace: str, text: str) -> str:
        digest = self._keyed.copy()
        digest.update(f"{namespace}:{text}".encode())
        return digest.hexdigest()[:PSEUDONYM_HEX_LENGTH]


def demo_key(state_dir: Path) -> str:
    """The embedded demo's key: generated once, kept in the state folder (outside PostgreSQL)."""
    path = state_dir / "pseudonym.key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()
