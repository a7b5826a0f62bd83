"""The command line: clear answers when settings are missing, and working maintenance commands."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import Settings
from bot.db.engine import make_engine, make_session_factory

ROOT = Path(__file__).resolve().parents[1]


def _cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    # A clean environment and an empty folder: no .env and no inherited settings leak in.
    base = {"PATH": os.environ.get("PATH", ""), "HOME": str(cwd)}
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_config_with_nothing_set_names_what_is_missing(tmp_path: Path) -> None:
    result = _cli("check-config", cwd=tmp_path)
    assert result.returncode == 1
    assert "TELEGRAM_BOT_TOKEN" in result.stderr
    assert "ENCRYPTION_KEYS" in result.stderr
    assert "gen-key" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_without_token_exits_2_with_one_line(tmp_path: Path) -> None:
    key = _cli("gen-key", cwd=tmp_path).stdout.strip()
    result = _cli("run", cwd=tmp_path, env={"ENCRYPTION_KEYS": key})
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "TELEGRAM_BOT_TOKEN" in lines[0]
    assert "ENCRYPTION_KEYS" not in lines[0]
    assert result.stdout == ""


def test_run_without_key_exits_2_with_one_line(tmp_path: Path) -> None:
    result = _cli("run", cwd=tmp_path, env={"TELEGRAM_BOT_TOKEN": "123456:" + "A" * 35})
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "ENCRYPTION_KEYS" in lines[0]
    assert "A" * 35 not in result.stderr


def test_invalid_setting_is_named_without_traceback(tmp_path: Path) -> None:
    result = _cli("check-config", cwd=tmp_path, env={"ADMIN_IDS": "alice"})
    assert result.returncode == 1
    assert "ADMIN_IDS" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_config_ok(tmp_path: Path) -> None:
    key = _cli("gen-key", cwd=tmp_path).stdout.strip()
    env = {"ENCRYPTION_KEYS": key, "TELEGRAM_BOT_TOKEN": "123456:" + "B" * 35}
    result = _cli("check-config", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def test_malformed_master_key_is_a_clear_error(tmp_path: Path) -> None:
    env = {"ENCRYPTION_KEYS": "short", "TELEGRAM_BOT_TOKEN": "123456:" + "B" * 35}
    result = _cli("check-config", cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert "ENCRYPTION_KEYS" in result.stderr
    assert "short" not in result.stderr
    assert "Traceback" not in result.stderr


def test_migrate_creates_the_sqlite_folder(tmp_path: Path) -> None:
    result = _cli("migrate", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "bot.db").exists()


def test_env_example_documents_every_setting() -> None:
    text = (ROOT / ".env.example").read_text()
    documented = {
        line.split("=", 1)[0].lower()
        for line in text.splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert documented == set(Settings.model_fields)


@pytest.mark.parametrize("command", ["--help", "run --help"])
def test_help(tmp_path: Path, command: str) -> None:
    assert _cli(*command.split(), cwd=tmp_path).returncode == 0


def _store_credentials(database_url: str, master: str) -> None:
    """A database with one user's keys, written before the canary existed."""
    from bot.db.migrate import upgrade
    from bot.services.accounts import AccountService
    from bot.services.credentials import CredentialVault

    async def write() -> None:
        await upgrade(database_url)
        engine = make_engine(database_url)
        try:
            accounts = AccountService(make_session_factory(engine), CredentialVault([master]))
            account, _ = await accounts.register(42, language="en")
            await accounts.store_credentials(
                account.user_id,
                exchange_id="binance",
                api_key="k" * 64,
                secret="s" * 64,
                passphrase=None,
                permissions={},
                ip_restricted=False,
            )
        finally:
            await engine.dispose()

    asyncio.run(write())


@pytest.mark.parametrize("canary", [True, False], ids=["canary", "stored-credential"])
def test_run_with_the_wrong_master_key_refuses_to_start(tmp_path: Path, canary: bool) -> None:
    right = _cli("gen-key", cwd=tmp_path).stdout.strip()
    wrong = _cli("gen-key", cwd=tmp_path).stdout.strip()
    (tmp_path / "data").mkdir()
    if canary:  # rotate-keys on the empty database writes the canary with the right key
        written = _cli("rotate-keys", cwd=tmp_path, env={"ENCRYPTION_KEYS": right})
        assert written.returncode == 0, written.stderr
    else:
        _store_credentials(f"sqlite+aiosqlite:///{tmp_path}/data/bot.db", right)
    env = {
        "ENCRYPTION_KEYS": wrong,
        "TELEGRAM_BOT_TOKEN": "123456:" + "B" * 35,
        # Never reached: the check comes first. A closed loopback port, should it be.
        "TELEGRAM_API_BASE_URL": "http://127.0.0.1:9/bot",
    }
    result = _cli("run", cwd=tmp_path, env=env)
    assert result.returncode == 2, result.stderr
    # The start-up log (migrations) may come first; the refusal is one line, and the last.
    errors = [line for line in result.stderr.splitlines() if "rebalance-bot:" in line]
    assert len(errors) == 1, result.stderr
    assert errors[0] == result.stderr.strip().splitlines()[-1]
    assert "ENCRYPTION_KEYS" in errors[0]
    assert "Traceback" not in result.stderr
    assert wrong not in result.stderr
