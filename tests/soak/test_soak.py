"""Soak with crashes: the bot as a real process, users on short schedules, a faulty exchange,
SIGKILL at random moments and restarts; then money and records are checked for consistency.

`make test` runs a short version; `make soak` (SOAK_FULL=1) runs 200 users, longer-lived."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from bot.db.engine import make_engine, make_session_factory
from bot.db.migrate import upgrade
from bot.db.models import RunStatus
from bot.db.repositories import Repositories
from bot.db.types import utcnow
from bot.i18n import _, use_locale
from bot.jobs import quiet_key
from bot.services.accounts import AccountService, Strategy
from bot.services.credentials import CredentialVault
from bot.services.history import result_of
from bot.views.notifications import is_quiet, result_message
from tests.fakes.binance import FakeBinance
from tests.fakes.marketcap import FakeMarketCaps
from tests.fakes.telegram import FakeTelegram

FULL = bool(os.environ.get("SOAK_FULL"))
USERS = 200 if FULL else 16
KILLS = 12 if FULL else 6
# Seconds a process lives before its SIGKILL. Starting one takes ~3 s on a busy 2-core machine
# (imports, migrations, restoring jobs): shorter lives would mostly kill processes that never
# ran anything.
LIFETIME = (6.0, 15.0) if FULL else (4.0, 8.0)
# Keep the load inside what the real services allow, or the bot rightly throttles itself:
# Binance's 6,000 weight/min per IP (a run reads the account, weight 20, so at most ~240 runs a
# minute under our 80% budget) and Telegram's ~30 messages/s (one report per run).
INTERVAL = max(2, USERS // 4)
SEED = int(os.environ.get("SOAK_SEED", "11"))  # the kill moments; any seed must pass
START = {"USDT": Decimal(1000), "BTC": Decimal("0.01")}
NOTIFY = ("all", "trades", "errors", "off")  # each user's /notify: reports only as it allows
TARGETS = [
    {"BTC": Decimal(40), "ETH": Decimal(30), "BNB": Decimal(20), "USDT": Decimal(10)},
    {"ETH": Decimal(50), "SOL": Decimal(50)},
    {"BTC": Decimal(25), "ETH": Decimal(25), "USDT": Decimal(50)},
]


def _key(i: int) -> tuple[str, str]:
    return "A" * 48 + f"{i:016d}", "B" * 48 + f"{i:016d}"


async def _prepare(db_url: str, master: str, exchange: FakeBinance) -> None:
    await upgrade(db_url)
    engine = make_engine(db_url)
    accounts = AccountService(make_session_factory(engine), CredentialVault([master]))
    for i in range(USERS):
        key, secret = _key(i)
        exchange.add_account(key, secret, START)
        account, _ = await accounts.register(900_000 + i, language="uk" if i % 2 else "en")
        await accounts.store_credentials(
            account.user_id,
            exchange_id="binance",
            api_key=key,
            secret=secret,
            passphrase=None,
            permissions={},
            ip_restricted=False,
        )
        await accounts.set_strategy(account.user_id, Strategy(weights=TARGETS[i % len(TARGETS)]))
        await accounts.set_threshold(account.user_id, Decimal(1))
        await accounts.set_dry_run(account.user_id, i % 3 == 0)
        await accounts.set_interval(account.user_id, INTERVAL)
        await accounts.set_notify(account.user_id, NOTIFY[i % len(NOTIFY)])
        await accounts.set_schedule(account.user_id, running=True, next_run_at=utcnow())
    await engine.dispose()


async def _move_prices(exchange: FakeBinance, stop: asyncio.Event) -> None:
    rng = random.Random(3)
    while not stop.is_set():
        for symbol in ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT"):
            price = exchange.prices[symbol] * Decimal(str(1 + rng.uniform(-0.02, 0.02)))
            exchange.prices[symbol] = price.quantize(Decimal("0.01"))
        await asyncio.sleep(0.5)


async def _bot(env: dict[str, str], cwd: Path, log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as stderr:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            env=env,
            cwd=cwd,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
        )


async def test_soak_with_crashes(tmp_path: Path) -> None:
    master = CredentialVault.generate_master_key()
    db_url = f"sqlite+aiosqlite:///{tmp_path}/soak.db"
    rng = random.Random(SEED)
    async with (
        FakeTelegram() as telegram,
        FakeBinance(timeout_sleep=1.5) as exchange,
        FakeMarketCaps() as caps,
    ):
        await _prepare(db_url, master, exchange)
        for path in ("/api/v3/order", "/sapi/v3/asset/getUserAsset", "/api/v3/ticker/price"):
            for kind in ("500", "429", "timeout"):
                exchange.inject(path, kind, count=None, probability=0.02)
        exchange.inject(
            "/api/v3/order", "timeout_after", count=None, probability=0.03, method="POST"
        )
        # Binance's JSON-coded internal errors, after booking (the order executed) and before.
        for booked in (True, False):
            exchange.inject(
                "/api/v3/order",
                "code",
                code=-1001,
                status=503,
                booked=booked,
                count=None,
                probability=0.02,
                method="POST",
            )
        exchange.inject("/api/v3/order", "partial", count=None, probability=0.03, method="POST")
        # Some lost answers stay invisible longer than a run's own lookups: reconciliation
        # must find them later.
        exchange.lookup_delay = 2.5
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path),
            "TELEGRAM_BOT_TOKEN": telegram.token,
            "TELEGRAM_API_BASE_URL": telegram.base_url,
            "BINANCE_API_URL": exchange.url,
            "COINGECKO_API_URL": caps.coingecko_url,
            "COINMARKETCAP_API_URL": caps.cmc_url,
            "ENCRYPTION_KEYS": master,
            "DATABASE_URL": db_url,
            "MIN_INTERVAL_SECONDS": "1",
            "EXCHANGE_RATE_LIMIT": "false",
            "EXCHANGE_TIMEOUT_SECONDS": "1",
            "LOG_LEVEL": os.environ.get("SOAK_LOG_LEVEL", "WARNING"),
            "PRICE_TTL_SECONDS": "1",
            # Reconcile every second, and call an unseen order never placed after 2 s (Binance
            # needs minutes; the fake's lookups miss for 2.5 s at most).
            "RECONCILE_INTERVAL_SECONDS": "1",
            "UNKNOWN_ORDER_GRACE_SECONDS": "3",
        }
        stop = asyncio.Event()
        mover = asyncio.create_task(_move_prices(exchange, stop))
        for _kill in range(KILLS):
            process = await _bot(env, tmp_path, tmp_path / "killed.log")
            await asyncio.sleep(rng.uniform(*LIFETIME))
            process.send_signal(signal.SIGKILL)
            await process.wait()
        exchange.clear_faults()
        # A last clean run: start-up reconciles what the kills left, then a graceful stop.
        final_log = tmp_path / "final.log"
        process = await _bot(env, tmp_path, final_log)
        await asyncio.sleep(12)  # long enough to look up every order the kills left unknown
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout=180)
        finally:
            stop.set()
            await mover
            err = final_log.read_bytes()
            print(err.decode()[-3000:])
        assert process.returncode == 0, err.decode()[-2000:]
        assert b"Traceback" not in err, err.decode()[-3000:]
        await _check(db_url, exchange, telegram)
        _check_no_secret_leaked(tmp_path, telegram)


def _is_quiet_report(text: str) -> bool:
    heads = []
    for language in ("en", "uk"):
        with use_locale(language):
            heads.append(
                _("No rebalance needed: largest drift {drift} points, threshold {threshold}.")
            )
    return any(head.split(":")[0] in text for head in heads)


def _is_revision(text: str) -> bool:
    heads = []
    for language in ("en", "uk"):
        with use_locale(language):
            heads.append(_("Update on the rebalance of {time}: the exchange has answered."))
    return any(text.startswith(head.split("{time}")[0]) for head in heads)


def _check_no_secret_leaked(folder: Path, telegram: FakeTelegram) -> None:
    """No API key, secret or the bot token in any log, the database file or a message sent."""
    secrets = [telegram.token.encode()]
    for i in range(USERS):
        secrets.extend(part.encode() for part in _key(i))
    files = [p for p in folder.iterdir() if p.suffix in (".log", ".db") or ".db-" in p.name]
    assert any(p.suffix == ".db" for p in files)
    assert any(p.suffix == ".log" for p in files)
    for path in files:
        data = path.read_bytes()
        leaked = [secret[-6:] for secret in secrets if secret in data]
        assert not leaked, (path.name, leaked)
    texts = "\n".join(m.text or "" for ms in telegram.sent.values() for m in ms).encode()
    assert not [secret[-6:] for secret in secrets if secret in texts]


async def _check(db_url: str, exchange: FakeBinance, telegram: FakeTelegram) -> None:
    # 1. No client order id was sent again after the exchange had booked it.
    booked: set[str] = set()
    for request in exchange.requests:
        if request.path != "/api/v3/order" or request.method != "POST":
            continue
        cid = request.params.get("newClientOrderId", "")
        assert cid not in booked, f"{cid} sent again after it was booked"
        if request.booked:
            booked.add(cid)
    engine = make_engine(db_url)
    sessions = make_session_factory(engine)
    keys = {_key(i)[0]: i for i in range(USERS)}
    reported: dict[int, int] = {}
    try:
        async with sessions() as session:
            repos = Repositories(session)
            runs = await repos.system.unfinished_runs()
            # 2. Every run ended in a final state, and every order's outcome is known.
            assert runs == [], [(r.id, r.status) for r in runs]
            users = {}
            for api_key, i in keys.items():
                user = await repos.users.by_telegram_id(900_000 + i)
                assert user is not None
                users[api_key] = user.id
            # 3. Every order the exchange accepted is recorded against its run, as it filled.
            recorded_fills: dict[
                str, list[tuple[str, str, Decimal, Decimal, dict[str, Decimal]]]
            ] = defaultdict(list)
            for order in exchange.order_book:
                user_id = users[order.api_key]
                row = await repos.orders.by_client_id(user_id, order.client_order_id)
                assert row is not None, f"order {order.client_order_id} not recorded"
                assert row.status in ("closed", "expired"), (row.client_order_id, row.status)
                assert row.filled == order.executed_qty
                fees = {c: Decimal(a) for c, a in (row.fees or {}).items()}
                assert fees == order.commission, (row.client_order_id, fees, order.commission)
                recorded_fills[order.api_key].append(
                    (
                        row.symbol,
                        row.side,
                        row.filled or Decimal(0),
                        row.cost or Decimal(0),
                        fees,
                    )
                )
            booked_ids = {o.client_order_id for o in exchange.order_book}
            for user_id in users.values():
                for row in await repos.orders.unsettled(user_id):
                    assert row.status == "not_placed", (row.client_order_id, row.status)
                    assert row.client_order_id not in booked_ids
            runs_done = 0
            reported: dict[int, int] = {}
            quiet_most: dict[int, int] = {}
            for api_key, user_id in users.items():
                runs = await repos.runs.latest(user_id, limit=10_000)
                runs_done += len(runs)
                assert not [r.id for r in runs if r.status == RunStatus.UNRESOLVED.value]
                # 5. Every finished run was reported to its user as their /notify allows, and
                # every correction reconciliation made after a report was told once.
                unreported = [r.id for r in runs if r.notified_at is None]
                assert unreported == [], (api_key[-4:], unreported)
                untold = [r.id for r in runs if r.revised_at and not r.revision_notified_at]
                assert untold == [], (api_key[-4:], untold)
                level = NOTIFY[keys[api_key] % len(NOTIFY)]
                reportable = [
                    result_of(r)
                    for r in reversed(runs)  # oldest first
                    if result_message(result_of(r), level) is not None
                ]
                reported[900_000 + keys[api_key]] = sum(1 for r in reportable if not is_quiet(r))
                # "No rebalance needed" goes out once a day unless what it is about changed
                # (a crash between claiming that slot and sending may drop one: at most this).
                keys_seen = [quiet_key(r) for r in reportable if is_quiet(r)]
                quiet_most[900_000 + keys[api_key]] = sum(
                    1 for i, key in enumerate(keys_seen) if i == 0 or keys_seen[i - 1] != key
                )
            assert runs_done >= USERS  # every user ran at least once across the kills
    finally:
        await engine.dispose()
    # 4. Balances on the exchange equal what the recorded orders imply.
    for api_key in keys:
        expected: dict[str, Decimal] = defaultdict(Decimal, START)
        for symbol, side, filled, cost, fees in recorded_fills[api_key]:
            base, quote = symbol.split("/")
            if side == "sell":
                expected[base] -= filled
                expected[quote] += cost
            else:
                expected[quote] -= cost
                expected[base] += filled
            for currency, fee in fees.items():
                expected[currency] -= fee
        actual = exchange.balances(api_key)
        for asset in set(expected) | set(actual):
            assert abs(expected[asset] - actual.get(asset, Decimal(0))) < Decimal("1e-6"), (
                api_key[-4:],
                asset,
                expected[asset],
                actual.get(asset),
            )
    # 6. Messages only went to the users' own chats, one report per reportable run, and /notify
    # off means silence.
    chats = {900_000 + i for i in range(USERS)}
    assert set(telegram.sent) <= chats
    for chat, count in reported.items():
        reports = [m for m in telegram.messages(chat) if not _is_revision(m.text or "")]
        quiet = [m for m in reports if _is_quiet_report(m.text or "")]
        assert len(reports) - len(quiet) == count, (chat, len(reports), len(quiet), count)
        assert len(quiet) <= quiet_most[chat], (chat, len(quiet), quiet_most[chat])
    assert sum(reported.values()) + sum(quiet_most.values()) > 0
    assert RunStatus.INTERRUPTED.value  # interrupted runs are a final state (checked above)
