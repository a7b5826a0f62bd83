"""The `rebalance-bot` command: run, migrate, gen-key, rotate-keys, check-config."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from bot.config import Settings
from bot.errors import ConfigError, CredentialsError

EXIT_CONFIG = 2


def _fail(message: str, code: int = EXIT_CONFIG) -> int:
    print(f"rebalance-bot: {message}", file=sys.stderr)
    return code


def _describe_validation(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]).upper() or "settings"
        problems.append(f"{name}: {item['msg']}")
    return problems


def load_settings() -> Settings:
    """Settings, or a ConfigError whose text names each bad variable (never its value)."""
    try:
        return Settings()
    except ValidationError as error:
        raise ConfigError("invalid settings: " + "; ".join(_describe_validation(error))) from None


def _vault(settings: Settings):  # type: ignore[no-untyped-def]
    from bot.services.credentials import CredentialVault

    return CredentialVault(settings.master_keys())


def cmd_check_config(_args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"rebalance-bot: {error}", file=sys.stderr)
        return 1
    problems = [f"{item} is not set" for item in settings.missing()]
    if settings.encryption_keys:
        try:
            _vault(settings)
        except CredentialsError as error:
            problems.append(str(error))
    if problems:
        print("Configuration problems (set them in the environment or in .env):", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print(f"Configuration OK. Database: {settings.database_url.split('://', 1)[0]}")
    return 0


def cmd_gen_key(_args: argparse.Namespace) -> int:
    from bot.services.credentials import CredentialVault

    print(CredentialVault.generate_master_key())
    return 0


def cmd_migrate(_args: argparse.Namespace) -> int:
    from bot.db.migrate import upgrade

    settings = load_settings()
    asyncio.run(upgrade(settings.database_url))
    print("Database is at the newest schema.")
    return 0


def cmd_rotate_keys(_args: argparse.Namespace) -> int:
    from bot.db.engine import make_engine, make_session_factory
    from bot.db.migrate import upgrade
    from bot.services.maintenance import rotate_credentials

    settings = load_settings()
    if not settings.encryption_keys:
        return _fail("ENCRYPTION_KEYS is not set: nothing to rotate with.")
    vault = _vault(settings)

    async def rotate() -> int:
        await upgrade(settings.database_url)
        engine = make_engine(settings.database_url)
        try:
            return await rotate_credentials(make_session_factory(engine), vault)
        finally:
            await engine.dispose()

    count = asyncio.run(rotate())
    print(f"Re-encrypted the credentials of {count} user(s) with the newest master key.")
    return 0


def cmd_run(_args: argparse.Namespace) -> int:
    settings = load_settings()
    missing = settings.missing()
    if missing:
        return _fail(
            "cannot start: set "
            + " and ".join(missing)
            + " in the environment or in .env (see .env.example)."
        )
    problem = settings.distributed_problem()
    if problem:
        return _fail(problem)
    _vault(settings)  # fail fast on a malformed master key
    from bot.app import run_bot

    run_bot(settings)
    return 0


def cmd_worker(_args: argparse.Namespace) -> int:
    settings = load_settings()
    if not settings.distributed:
        return _fail(
            "a worker needs QUEUE_URL (redis://...) and a PostgreSQL DATABASE_URL; without "
            "them `rebalance-bot run` does everything in one process."
        )
    problem = settings.distributed_problem()
    missing = settings.missing(need_token=False)
    if problem or missing:
        return _fail(
            problem or "cannot start: set " + " and ".join(missing) + " (see .env.example)."
        )
    _vault(settings)
    from bot.app import prepare
    from bot.distributed.worker import serve
    from bot.services.startup import prepare_database

    prepare(settings)

    async def work() -> None:
        await prepare_database(settings)
        await serve(settings)

    asyncio.run(work())
    return 0


COMMANDS = {
    "run": (cmd_run, "migrate the database and start the bot"),
    "worker": (cmd_worker, "run rebalances from the queue (distributed mode, QUEUE_URL)"),
    "migrate": (cmd_migrate, "apply database migrations"),
    "gen-key": (cmd_gen_key, "print a new master encryption key"),
    "rotate-keys": (cmd_rotate_keys, "re-encrypt every stored credential with the newest key"),
    "check-config": (cmd_check_config, "validate the settings and say what is missing"),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rebalance-bot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_func, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text)
    args = parser.parse_args(argv)
    func = COMMANDS[args.command][0]
    try:
        return func(args)
    except (ConfigError, CredentialsError) as error:
        return _fail(str(error))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
