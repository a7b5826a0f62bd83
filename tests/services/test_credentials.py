"""Credentials at rest: keys per user and per column, master rotation, the upgrade of old
tokens, master keys that must be generated, clear errors, nothing secret in reprs."""

from __future__ import annotations

import base64
import os
from math import comb

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.repositories import Repositories
from bot.errors import ConfigError, CredentialsError
from bot.services.credentials import (
    API_KEY,
    API_SECRET,
    CMC_API_KEY,
    CredentialVault,
    WeakMasterKey,
    looks_generated,
)
from bot.services.maintenance import (
    CANARY_KEY,
    check_master_keys,
    rotate_credentials,
    upgrade_credentials,
)

OLD = CredentialVault.generate_master_key()
NEW = CredentialVault.generate_master_key()


def legacy_master() -> str:
    """What `gen-key` printed before the self-checking format."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def legacy_token(master: str, user_id: int, plaintext: str) -> str:
    """A token as the first version wrote it: keyed per user, bound to no column."""
    raw = base64.urlsafe_b64decode(master)
    key = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"rebalance-bot/credentials",
        info=f"rebalance-bot/credentials/v1/user:{user_id}".encode(),
    ).derive(raw)
    return Fernet(base64.urlsafe_b64encode(key)).encrypt(plaintext.encode()).decode()


def test_round_trip() -> None:
    vault = CredentialVault([OLD])
    token = vault.encrypt(1, "my-api-secret", API_SECRET)
    assert "my-api-secret" not in token
    assert vault.decrypt(1, token, API_SECRET) == "my-api-secret"


@settings(max_examples=50, deadline=None)
@given(st.text(min_size=1, max_size=200), st.integers(min_value=1, max_value=10**9))
def test_round_trip_any_text(secret: str, user_id: int) -> None:
    vault = CredentialVault([OLD])
    assert vault.decrypt(user_id, vault.encrypt(user_id, secret, API_KEY), API_KEY) == secret


def test_one_users_token_is_useless_for_another() -> None:
    vault = CredentialVault([OLD])
    a, b = vault.encrypt(1, "same secret", API_KEY), vault.encrypt(2, "same secret", API_KEY)
    with pytest.raises(CredentialsError):
        vault.decrypt(2, a, API_KEY)
    with pytest.raises(CredentialsError):
        vault.decrypt(1, b, API_KEY)


def test_a_token_opens_only_in_its_own_column() -> None:
    """Swapping the key and secret tokens of one row (or moving one to the CMC column) fails."""
    vault = CredentialVault([OLD])
    key_token = vault.encrypt(5, "the-api-key", API_KEY)
    secret_token = vault.encrypt(5, "the-secret", API_SECRET)
    for token, wrong_field in ((key_token, API_SECRET), (secret_token, API_KEY)):
        with pytest.raises(CredentialsError):
            vault.decrypt(5, token, wrong_field)
    with pytest.raises(CredentialsError):
        vault.decrypt(5, secret_token, CMC_API_KEY)


def test_old_master_still_decrypts_after_a_new_one_is_added() -> None:
    token = CredentialVault([OLD]).encrypt(7, "secret", API_SECRET)
    assert CredentialVault([NEW, OLD]).decrypt(7, token, API_SECRET) == "secret"


def test_rotate_moves_a_token_to_the_newest_master() -> None:
    token = CredentialVault([OLD]).encrypt(7, "secret", API_SECRET)
    rotated = CredentialVault([NEW, OLD]).rotate(7, token, API_SECRET)
    assert CredentialVault([NEW]).decrypt(7, rotated, API_SECRET) == "secret"
    with pytest.raises(CredentialsError):
        CredentialVault([NEW]).decrypt(7, token, API_SECRET)


def test_old_tokens_are_read_only_to_bind_them_to_their_column() -> None:
    master = legacy_master()
    vault = CredentialVault([master])
    old = legacy_token(master, 3, "the-secret")
    with pytest.raises(CredentialsError, match="old format"):
        vault.decrypt(3, old, API_SECRET)
    bound = vault.rotate(3, old, API_SECRET)
    assert vault.decrypt(3, bound, API_SECRET) == "the-secret"
    with pytest.raises(CredentialsError):
        vault.decrypt(3, bound, API_KEY)


def test_wrong_master_is_a_clear_error() -> None:
    token = CredentialVault([OLD]).encrypt(1, "secret", API_KEY)
    with pytest.raises(CredentialsError, match="ENCRYPTION_KEYS") as wrong:
        CredentialVault([NEW]).decrypt(1, token, API_KEY)
    assert token not in str(wrong.value)
    with pytest.raises(CredentialsError, match="gen-key"):
        CredentialVault([])
    with pytest.raises(CredentialsError, match="entry 1") as short:
        CredentialVault(["too-short-a-key"])
    assert "too-short" not in str(short.value)


def test_repr_shows_no_secret() -> None:
    vault = CredentialVault([NEW, OLD])
    assert repr(vault) == "CredentialVault(masters=2)"
    assert NEW not in repr(vault)


# --- master keys must be generated --------------------------------------------------------------

PASSPHRASES = [
    "correct horse battery staple",
    "my bot password 2024",
    "ThisIsMyVerySecretPasswordForTheRebalanceBot2024",  # base64 of 36 bytes: accepted before
    "thisismyverysecretpasswordforthebotpleaseA=",  # today's shape, typed by a person
    "THISISMYVERYSECRETPASSWORDFORTHEBOTPLEASEA=",
    "0123456789012345678901234567890123456789012=",
    "abcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabc=",
]


@pytest.mark.parametrize("passphrase", PASSPHRASES)
def test_a_passphrase_is_refused_as_the_newest_key(passphrase: str) -> None:
    with pytest.raises(WeakMasterKey, match="entry 1 is not a generated master key") as refused:
        CredentialVault([passphrase])
    assert passphrase not in str(refused.value)
    assert "rotate-keys" in str(refused.value)


def test_generated_keys_of_both_formats_are_accepted() -> None:
    assert NEW.startswith("rbk1_")
    for _ in range(2000):
        CredentialVault([CredentialVault.generate_master_key()])
    for _ in range(20000):  # the old format has no checksum: its screen must never bite
        assert looks_generated(legacy_master())
    CredentialVault([legacy_master()])


def test_a_damaged_generated_key_is_refused() -> None:
    damaged = NEW[:-3] + ("A" if NEW[-3] != "A" else "B") + NEW[-2:]
    with pytest.raises(WeakMasterKey, match="checksum"):
        CredentialVault([damaged])


def test_an_older_weak_key_is_still_read_so_an_install_can_rotate_off_it() -> None:
    weak = PASSPHRASES[2]
    raw = base64.urlsafe_b64decode(weak + "=" * (-len(weak) % 4))
    assert len(raw) >= 32
    vault = CredentialVault([NEW, weak])
    assert repr(vault) == "CredentialVault(masters=2)"


def test_the_old_format_screen_rarely_refuses_a_random_key() -> None:
    """Exact tails for 43 characters drawn uniformly from 64: each test under 2e-9."""
    n, alphabet = 43, 64
    distinct = [1.0] + [0.0] * n
    for _ in range(n):
        distinct = [
            distinct[d] * d / alphabet
            + (distinct[d - 1] * (alphabet - d + 1) / alphabet if d else 0)
            for d in range(n + 1)
        ]
    few_distinct = sum(distinct[:19])
    p_case = 26 / alphabet
    one_case = sum(comb(n, k) * p_case**k * (1 - p_case) ** (n - k) for k in range(37, n + 1))
    assert few_distinct < 2e-9
    assert one_case < 2e-9
    assert few_distinct + 2 * one_case < 4e-9  # the whole screen, by the union bound


# --- rotation, upgrade, canary ----------------------------------------------------------------


async def _users_with_legacy_tokens(
    session_factory: async_sessionmaker[AsyncSession], master: str
) -> None:
    async with session_factory() as session, session.begin():
        repos = Repositories(session)
        for telegram_id in (1, 2, 3):
            user = await repos.users.create(telegram_id, language="en")
            profile = await repos.profiles.get(user.id)
            assert profile is not None
            profile.api_key_encrypted = legacy_token(master, user.id, f"key-{telegram_id}")
            profile.api_secret_encrypted = legacy_token(master, user.id, f"secret-{telegram_id}")
            if telegram_id == 2:
                profile.cmc_api_key_encrypted = legacy_token(master, user.id, "cmc")


async def _secrets(
    session_factory: async_sessionmaker[AsyncSession], vault: CredentialVault
) -> dict[int, tuple[str, str, str | None]]:
    async with session_factory() as session:
        profiles = await Repositories(session).system.profiles_with_secrets()
        return {
            p.user_id: (
                vault.decrypt(p.user_id, p.api_key_encrypted or "", API_KEY),
                vault.decrypt(p.user_id, p.api_secret_encrypted or "", API_SECRET),
                vault.decrypt(p.user_id, p.cmc_api_key_encrypted, CMC_API_KEY)
                if p.cmc_api_key_encrypted
                else None,
            )
            for p in profiles
        }


async def test_rotate_keys_reencrypts_every_credential_bound_to_its_column(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    old = legacy_master()
    await _users_with_legacy_tokens(session_factory, old)
    assert await rotate_credentials(session_factory, CredentialVault([NEW, old])) == 3
    secrets = await _secrets(session_factory, CredentialVault([NEW]))
    assert sorted(s[1] for s in secrets.values()) == ["secret-1", "secret-2", "secret-3"]
    assert [s[2] for s in secrets.values() if s[2]] == ["cmc"]
    # The canary moved with them: the new master alone now passes the start-up check.
    await check_master_keys(session_factory, CredentialVault([NEW]))
    with pytest.raises(ConfigError, match="ENCRYPTION_KEYS"):
        await check_master_keys(session_factory, CredentialVault([OLD]))


async def test_start_up_binds_old_tokens_and_a_swap_then_fails(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    master = legacy_master()
    vault = CredentialVault([master])
    await _users_with_legacy_tokens(session_factory, master)
    await check_master_keys(session_factory, vault)  # no canary yet: a credential stands in
    assert await upgrade_credentials(session_factory, vault) == 3
    assert await upgrade_credentials(session_factory, vault) == 0  # once is enough
    assert (await _secrets(session_factory, vault))[1][:2] == ("key-1", "secret-1")
    async with session_factory() as session, session.begin():
        profile = await Repositories(session).profiles.get(1)
        assert profile is not None
        profile.api_key_encrypted, profile.api_secret_encrypted = (
            profile.api_secret_encrypted,
            profile.api_key_encrypted,
        )
    with pytest.raises(CredentialsError):
        await _secrets(session_factory, vault)


async def test_the_canary_refuses_a_wrong_master_key(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await check_master_keys(session_factory, CredentialVault([OLD]))  # empty: canary written
    async with session_factory() as session:
        assert await Repositories(session).state.get(CANARY_KEY)
    await check_master_keys(session_factory, CredentialVault([OLD]))
    await check_master_keys(session_factory, CredentialVault([NEW, OLD]))  # rotation under way
    with pytest.raises(ConfigError, match="no key in ENCRYPTION_KEYS opens"):
        await check_master_keys(session_factory, CredentialVault([NEW]))


async def test_without_a_canary_a_stored_credential_stands_in(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    master = legacy_master()
    await _users_with_legacy_tokens(session_factory, master)
    with pytest.raises(ConfigError):
        await check_master_keys(session_factory, CredentialVault([NEW]))
    async with session_factory() as session:
        assert await Repositories(session).state.get(CANARY_KEY) is None  # nothing written
