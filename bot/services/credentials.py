"""Credentials at rest: Fernet tokens under per-user keys derived (HKDF-SHA256) from masters."""

from __future__ import annotations

import base64
import binascii
import os
from collections import OrderedDict
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.errors import CredentialsError

MIN_MASTER_BYTES = 32
_SALT = b"rebalance-bot/credentials"
_CACHE_SIZE = 10_000


def _master_bytes(master: str, position: int) -> bytes:
    """A master is the urlsafe base64 of at least 32 random bytes (what `gen-key` prints)."""
    try:
        raw = base64.urlsafe_b64decode(master.strip().encode() + b"=" * (-len(master.strip()) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) < MIN_MASTER_BYTES:
        raise CredentialsError(
            f"ENCRYPTION_KEYS entry {position} is not a valid master key (it must be the output "
            "of `rebalance-bot gen-key`: urlsafe base64 of 32 random bytes)"
        )
    return raw


class CredentialVault:
    """Encrypts and decrypts per user; tokens of old masters keep working after a new one."""

    def __init__(self, master_keys: Sequence[str]) -> None:
        masters = [key for key in master_keys if key and key.strip()]
        if not masters:
            raise CredentialsError(
                "ENCRYPTION_KEYS is not set; create one with `rebalance-bot gen-key`"
            )
        self._masters = [_master_bytes(key, i + 1) for i, key in enumerate(masters)]
        self._cache: OrderedDict[int, tuple[MultiFernet, Fernet]] = OrderedDict()

    def __repr__(self) -> str:
        return f"CredentialVault(masters={len(self._masters)})"

    @staticmethod
    def generate_master_key() -> str:
        return base64.urlsafe_b64encode(os.urandom(32)).decode()

    @staticmethod
    def _derive(master: bytes, user_id: int) -> Fernet:
        key = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=_SALT,
            info=f"rebalance-bot/credentials/v1/user:{user_id}".encode(),
        ).derive(master)
        return Fernet(base64.urlsafe_b64encode(key))

    def _fernets(self, user_id: int) -> tuple[MultiFernet, Fernet]:
        cached = self._cache.get(user_id)
        if cached is not None:
            self._cache.move_to_end(user_id)
            return cached
        keys = [self._derive(master, user_id) for master in self._masters]
        pair = (MultiFernet(keys), keys[0])
        self._cache[user_id] = pair
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return pair

    def encrypt(self, user_id: int, plaintext: str) -> str:
        return self._fernets(user_id)[1].encrypt(plaintext.encode()).decode()

    def decrypt(self, user_id: int, token: str) -> str:
        try:
            return self._fernets(user_id)[0].decrypt(token.encode()).decode()
        except (InvalidToken, ValueError, TypeError):
            raise CredentialsError(
                "stored credentials cannot be decrypted with the configured ENCRYPTION_KEYS"
            ) from None

    def rotate(self, user_id: int, token: str) -> str:
        """The same secret as a token of the newest master."""
        try:
            return self._fernets(user_id)[0].rotate(token.encode()).decode()
        except (InvalidToken, ValueError, TypeError):
            raise CredentialsError(
                "stored credentials cannot be decrypted with the configured ENCRYPTION_KEYS"
            ) from None
