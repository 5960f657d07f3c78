"""Client keys: made once, stored only as their sha256, compared in constant time.

A key is ``igw-`` and 43 URL-safe characters (256 random bits). The gateway keeps only
the hex sha256 of each key; a request's ``Authorization: Bearer <key>`` is hashed and
compared with every client's hash with `hmac.compare_digest` (all of them, every time),
so neither a match nor its position shows in the timing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Final

__all__ = ["KeyRing", "hash_key", "new_key"]

KEY_PREFIX: Final = "igw-"


def hash_key(key: str) -> str:
    """The hex sha256 of ``key``, as a client's ``key_sha256`` holds it."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    """A fresh random client key."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


class KeyRing:
    """Finds which client a bearer token belongs to.

    Args:
        hashes: Client name → hex sha256 of its key.
    """

    __slots__ = ("_entries",)

    def __init__(self, hashes: Mapping[str, str]) -> None:
        self._entries = tuple((name, bytes.fromhex(digest)) for name, digest in hashes.items())

    def client(self, authorization: str | None) -> str | None:
        """The client whose key the ``Authorization`` header carries, or None."""
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        # "replace": a header that is not valid text matches no key rather than failing.
        digest = hashlib.sha256(token.strip().encode("utf-8", "replace")).digest()
        found = None
        for name, expected in self._entries:
            if hmac.compare_digest(digest, expected) and found is None:
                found = name
        return found

    def __repr__(self) -> str:
        return f"KeyRing({len(self._entries)} clients)"
