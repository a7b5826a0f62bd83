"""Fuzzing through the fake Bot API: random text, commands with random arguments, forged and
random callback data, odd Unicode, from several users in every dialog state. Every input gets
an answer, the error handler never sees an unexpected exception, nothing invalid is stored."""

from __future__ import annotations

import asyncio
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.conftest import World, connect

COMMANDS = [
    "/start",
    "/help",
    "/keys",
    "/targets",
    "/index",
    "/threshold",
    "/interval",
    "/next",
    "/timezone",
    "/dryrun",
    "/run",
    "/stop",
    "/status",
    "/notify",
    "/settings",
    "/language",
    "/history",
    "/cmckey",
    "/cancel",
    "/deletekeys",
    "/rebalance",
]
ODD = st.sampled_from(
    [
        "",
        " ",
        "0",
        "-1",
        "1e999",
        "NaN",
        "∞",
        "ＢＴＣ 50",
        "🚀" * 50,
        "\u202e100",
        "BTC 50 ETH 50",
        "equal BTC ETH",
        "10 cap 25 exclude DOGE",
        "9999999999999",
        "25:61",
        "Europe/Kyiv",
        "a" * 4000,
        "<b>x</b>",
        "&amp;",
    ]
)
ARGS = st.one_of(st.text(max_size=60), ODD)
INPUTS = st.one_of(
    st.tuples(st.sampled_from(COMMANDS), ARGS).map(lambda pair: f"{pair[0]} {pair[1]}".strip()),
    st.text(min_size=1, max_size=200),
    ODD.filter(bool),
)
CALLBACKS = st.one_of(
    st.text(max_size=80),
    st.sampled_from(["rb_ok|x|y", "lang|uk|000000000000", "menu|keys|", "|||", "hist|-1|a"]),
)


@pytest.fixture
def error_records(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.ERROR, logger="bot.handlers.base")
    return caplog


async def test_fuzzed_inputs_are_all_answered(
    world: World, error_records: pytest.LogCaptureFixture
) -> None:
    chats = [world.chat(7001), world.chat(7002, "uk"), world.chat(7003)]
    await connect(chats[0], world, {"USDT": "1000", "BTC": "0.01"})
    await chats[1].ask("/start")
    await chats[2].ask("/start")
    await chats[2].ask("/keys")  # left in the middle of the key dialog

    inputs: list[str] = []
    callbacks: list[str] = []

    @settings(
        max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(INPUTS, CALLBACKS)
    def collect(text: str, data: str) -> None:
        inputs.append(text)
        callbacks.append(data)

    collect()
    for i, text in enumerate(inputs):
        chat = chats[i % len(chats)]
        if not text.strip():
            continue
        answer = await chat.ask(text, timeout=30)
        assert answer.text or answer.kind == "photo"
    for i, data in enumerate(callbacks):
        chat = chats[i % len(chats)]
        callback_id = chat.press_data(1, data)
        await world.telegram.wait_for(
            lambda cid=callback_id: any(
                a.get("callback_query_id") == cid for a in world.telegram.answered
            ),
            timeout=15,
        )
    # Every chat still works afterwards, and nothing invalid was stored.
    for chat in chats:
        status = await chat.ask("/status", timeout=30)
        assert status.text
    assert world.app is not None
    services = world.app.bot_data["services"]
    for chat in chats:
        account = await services.accounts.find(chat.chat_id)
        assert account is not None
        weights = account.strategy.weights
        assert not weights or sum(weights.values()) == 100
        assert 0 <= account.strategy.threshold <= 100
        assert account.interval_seconds >= world.settings.min_interval_seconds
    unexpected = [r for r in error_records.records if "unexpected error" in r.getMessage()]
    assert unexpected == [], [r.getMessage() for r in unexpected]
    await asyncio.sleep(0)
