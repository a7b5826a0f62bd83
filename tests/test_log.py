"""Log lines never carry a token, a key, a secret or a signature."""

from __future__ import annotations

import io
import logging
import time

import pytest

from bot.log import REDACTED, SecretRegistry, make_handler, register_secret

TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghijklmn"
API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"


@pytest.fixture
def capture() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    logger = logging.getLogger("tests.redaction")
    logger.handlers = [make_handler(stream)]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def test_token_in_a_url_is_redacted(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    logger.info("POST https://api.telegram.org/bot%s/getUpdates", TOKEN)
    assert TOKEN not in stream.getvalue()
    assert "getUpdates" in stream.getvalue()


def test_keys_and_signatures_are_redacted(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    logger.warning(
        "GET /api/v3/account?timestamp=1&signature=%s headers {'X-MBX-APIKEY': '%s'} secret=%s",
        "a" * 64,
        API_KEY,
        SECRET,
    )
    out = stream.getvalue()
    assert "a" * 64 not in out
    assert API_KEY not in out
    assert SECRET not in out
    assert "/api/v3/account" in out


def test_registered_secret_in_a_traceback_is_redacted(
    capture: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = capture
    plain = "plain-secret-without-a-label-0123"
    register_secret(plain)
    try:
        raise RuntimeError(f"exchange said no to {plain}")
    except RuntimeError:
        logger.exception("run failed for %s", plain)
    out = stream.getvalue()
    assert plain not in out
    assert "RuntimeError" in out
    assert "Traceback" in out


def test_a_flood_of_registrations_never_lets_an_earlier_secret_through(
    capture: tuple[logging.Logger, io.StringIO],
) -> None:
    """The old list was cleared at 50,000 entries: the real secret then printed in clear."""
    cmc_key = "3f2b9c1e-7a4d-4e8b-9c2f-1d5e6a7b8c9d"  # no pattern covers it: only the registry
    register_secret(cmc_key)
    for i in range(60_000):  # as many other users' secrets decrypted for their runs
        register_secret(f"user{i:08d}secret{i:08d}")
    logger, stream = capture
    logger.info("exchange said no to %s", cmc_key)
    assert cmc_key not in stream.getvalue()
    assert "exchange said no to ***" in stream.getvalue()


def test_junk_typed_at_a_secret_step_only_evicts_other_junk() -> None:
    registry = SecretRegistry()
    registry.add(SECRET)
    registry.add("3f2b9c1e-7a4d-4e8b-9c2f-1d5e6a7b8c9d")
    for i in range(60_000):
        registry.add(f"junk{i:012d}typed", candidate=True)
    assert registry.redact("3f2b9c1e-7a4d-4e8b-9c2f-1d5e6a7b8c9d") == REDACTED
    assert registry.redact(SECRET) == REDACTED
    assert len(registry) == 2 + registry.candidate_capacity


def test_the_registry_is_bounded_and_evicts_least_recently_used() -> None:
    registry = SecretRegistry(capacity=3, candidates=2)
    for value in ("first-secret-1", "second-secret", "third-secret-3"):
        registry.add(value)
    registry.add("first-secret-1")  # used again: the most recent now
    registry.add("fourth-secret4")
    assert registry.redact("second-secret") == "second-secret"  # the oldest went
    assert registry.redact("first-secret-1 third-secret-3 fourth-secret4") == "*** *** ***"
    for i in range(10):
        registry.add(f"candidate-{i:05d}", candidate=True)
    assert len(registry) == 5  # candidates never push out secrets in use
    registry.add("pinned-token-value", pinned=True)
    for i in range(10):
        registry.add(f"more-secrets-{i:03d}")
    assert registry.redact("pinned-token-value") == REDACTED


def test_a_secret_inside_a_longer_token_is_found() -> None:
    registry = SecretRegistry()
    registry.add("in-the-middle-0001")
    assert registry.redact("url=/v1/in-the-middle-0001/x?y") == "url=/v1/***/x?y"


def test_cost_per_line_does_not_grow_with_registered_secrets() -> None:
    """Measured: redaction of a typical line with 10 and with 120,000 secrets registered."""
    line = (
        "2026-01-01 12:00:00 INFO bot.services.rebalancer: user 1234 run 99 finished: "
        "succeeded, 3 orders, value 1,234.56 USDT, GET /api/v3/account?timestamp=1700000000000"
        "&recvWindow=5000 took 0.123 s"
    )
    small, large = SecretRegistry(), SecretRegistry()
    for i in range(10):
        small.add(f"{i:08d}-secret-value-{i:08d}")
    for i in range(60_000):
        large.add(f"{i:08d}-secret-value-{i:08d}")
        large.add(f"junk{i:012d}", candidate=True)
    per_line = {
        name: _per_line(registry, line) for name, registry in (("10", small), ("big", large))
    }
    print(
        f"redaction per line: {per_line['10'] * 1e6:.1f} µs with 10 secrets, "
        f"{per_line['big'] * 1e6:.1f} µs with {len(large)}"
    )
    assert per_line["big"] < 3 * per_line["10"] + 20e-6
    assert per_line["big"] < 1e-3


def _per_line(registry: SecretRegistry, line: str, rounds: int = 2000) -> float:
    best = float("inf")
    for _attempt in range(5):
        started = time.perf_counter()
        for _ in range(rounds):
            registry.redact(line)
        best = min(best, (time.perf_counter() - started) / rounds)
    return best
