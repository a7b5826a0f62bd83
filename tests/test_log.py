"""Log lines never carry a token, a key, a secret or a signature."""

from __future__ import annotations

import io
import logging

import pytest

from bot.log import make_handler, register_secret

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
