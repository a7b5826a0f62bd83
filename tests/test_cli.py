"""The command line: clear answers when settings are missing, and working maintenance commands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import Settings

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
