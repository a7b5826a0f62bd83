"""The last guard on replies: at most 4096 characters, still valid HTML."""

from __future__ import annotations

from bot.views.common import MAX_MESSAGE_CHARS, escape, fit_message
from tests.fakes.telegram import html_error


def test_a_long_reply_is_cut_at_a_line_and_its_tags_closed() -> None:
    text = "<b>Portfolio</b>\n<pre>" + "\n".join(f"line {i} &amp; more" for i in range(900))
    assert html_error(text + "</pre>") == "message is too long"
    fitted = fit_message(text + "</pre>")
    assert len(fitted) <= MAX_MESSAGE_CHARS
    assert html_error(fitted) is None
    assert fitted.endswith("</pre>\n…")


def test_short_replies_are_untouched_and_escape_covers_tags() -> None:
    assert fit_message("<b>ok</b>") == "<b>ok</b>"
    assert html_error(escape("<A HREF=x>")) is None
    assert html_error("<A HREF=x>") is not None
