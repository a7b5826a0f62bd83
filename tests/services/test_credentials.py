"""Credentials at rest: per-user keys, master rotation, clear errors, nothing secret in reprs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.repositories import Repositories
from bot.errors import CredentialsError
from bot.services.credentials import CredentialVault
from bot.services.maintenance import rotate_credentials

OLD = CredentialVault.generate_master_key()
NEW = CredentialVault.generate_master_key()


def test_round_trip() -> None:
    vault = CredentialVault([OLD])
    token = vault.encrypt(1, "my-api-secret")
    assert token != "my-api-secret"
    assert vault.decrypt(1, token) == "my-api-secret"


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=200), st.integers(min_value=1, max_value=2**40))
def test_round_trip_any_text(secret: str, user_id: int) -> None:
    vault = CredentialVault([OLD])
    assert vault.decrypt(user_id, vault.encrypt(user_id, secret)) == secret


def test_users_have_different_keys() -> None:
    vault = CredentialVault([OLD])
    a, b = vault.encrypt(1, "same secret"), vault.encrypt(2, "same secret")
    assert a != b
    with pytest.raises(CredentialsError):
        vault.decrypt(2, a)
    with pytest.raises(CredentialsError):
        vault.decrypt(1, b)


def test_old_tokens_survive_a_new_master() -> None:
    token = CredentialVault([OLD]).encrypt(7, "secret")
    assert CredentialVault([NEW, OLD]).decrypt(7, token) == "secret"


def test_rotation_needs_only_the_new_master() -> None:
    token = CredentialVault([OLD]).encrypt(7, "secret")
    rotated = CredentialVault([NEW, OLD]).rotate(7, token)
    assert CredentialVault([NEW]).decrypt(7, rotated) == "secret"
    with pytest.raises(CredentialsError):
        CredentialVault([NEW]).decrypt(7, token)


def test_wrong_or_missing_master_is_a_clear_error() -> None:
    token = CredentialVault([OLD]).encrypt(1, "secret")
    with pytest.raises(CredentialsError, match="ENCRYPTION_KEYS") as wrong:
        CredentialVault([NEW]).decrypt(1, token)
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


async def test_rotate_keys_reencrypts_every_credential(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    old = CredentialVault([OLD])
    async with session_factory() as session, session.begin():
        repos = Repositories(session)
        for telegram_id in (1, 2, 3):
            user = await repos.users.create(telegram_id, language="en")
            profile = await repos.profiles.get(user.id)
            assert profile is not None
            profile.api_key_encrypted = old.encrypt(user.id, f"key-{telegram_id}")
            profile.api_secret_encrypted = old.encrypt(user.id, f"secret-{telegram_id}")
            if telegram_id == 2:
                profile.cmc_api_key_encrypted = old.encrypt(user.id, "cmc")
    assert await rotate_credentials(session_factory, CredentialVault([NEW, OLD])) == 3
    new_only = CredentialVault([NEW])
    async with session_factory() as session:
        profiles = await Repositories(session).system.profiles_with_secrets()
        seen = {}
        for profile in profiles:
            seen[profile.user_id] = new_only.decrypt(
                profile.user_id, profile.api_secret_encrypted or ""
            )
            new_only.decrypt(profile.user_id, profile.api_key_encrypted or "")
            if profile.cmc_api_key_encrypted:
                assert new_only.decrypt(profile.user_id, profile.cmc_api_key_encrypted) == "cmc"
    assert sorted(seen.values()) == ["secret-1", "secret-2", "secret-3"]
