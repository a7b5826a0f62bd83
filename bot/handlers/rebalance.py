"""/portfolio (with a chart) and /rebalance (preview, then Confirm or Cancel within 2 minutes)."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot.db.models import RunTrigger
from bot.db.types import utcnow
from bot.errors import (
    AuthenticationFailed,
    PermissionDenied,
    PreviewExpired,
    TemporaryExchangeError,
)
from bot.handlers.base import BotContext, Progress, answer, edit, handles_user_errors, reply
from bot.services.kill_switch import halted
from bot.services.run_result import Preview, Problem
from bot.views import charts, notifications
from bot.views import rebalance as views


async def _preview(
    update: Update,
    context: BotContext,
    *,
    propose: bool = False,
    holdings_only_ok: bool = False,
    progress: Progress | None = None,
) -> Preview | None:
    """A fresh plan (stored to be confirmed when `propose`), or a clear answer about why there
    is none (keys, exchange down)."""
    say = progress.answer if progress is not None else partial(reply, update)
    account = context.require_account()
    rebalancer = context.services.rebalancer
    try:
        if propose:
            return await rebalancer.propose(account.user_id)
        return await rebalancer.preview(account.user_id, holdings_only_ok=holdings_only_ok)
    except AuthenticationFailed:
        await say(notifications.result_text_for_problem(Problem.AUTH))
    except PermissionDenied:
        await say(notifications.result_text_for_problem(Problem.PERMISSION))
    except TemporaryExchangeError:
        await say(notifications.result_text_for_problem(Problem.UNAVAILABLE))
    return None


@handles_user_errors
async def portfolio_command(update: Update, context: BotContext) -> None:
    """Holdings with amount, value, weight, target and drift (holdings alone before targets
    are set); a button sends the chart."""
    async with context.progress(update) as progress:
        preview = await _preview(update, context, holdings_only_ok=True, progress=progress)
        if preview is None:
            return
        if context.chat_data is not None:
            context.chat_data["last_portfolio"] = preview
        keyboard = views.chart_keyboard(context.button) if preview.target_weights else None
        await progress.answer(views.portfolio_text(preview), keyboard)


@handles_user_errors
async def chart_pressed(update: Update, context: BotContext) -> None:
    """Render the allocation chart off the event loop and send it as a photo."""
    await answer(update)
    preview = context.chat_data.get("last_portfolio") if context.chat_data is not None else None
    if not isinstance(preview, Preview):
        preview = await _preview(update, context)
        if preview is None:
            return
    account = context.require_account()
    png = await asyncio.to_thread(
        charts.allocation_chart,
        preview.current_weights,
        preview.target_weights,
        title=views.chart_title(),
        labels=views.chart_labels(),
        threshold=preview.threshold,
        total=preview.total_value,
        quote=preview.quote,
        when=preview.created_at or utcnow(),
        timezone=account.timezone,
    )
    chat = update.effective_chat
    if chat is not None:
        await chat.send_photo(png, caption=views.chart_title())


@handles_user_errors
async def rebalance_command(update: Update, context: BotContext) -> None:
    """Plan now and show the preview with Confirm / Cancel."""
    async with context.progress(update) as progress:
        preview = await _preview(update, context, propose=True, progress=progress)
        if preview is None:
            return
        await _show_preview(update, context, preview, progress=progress)


KEPT_PREVIEWS = 5  # rendered previews kept per chat, to be kept as the record on Confirm


@handles_user_errors
async def retry_pressed(update: Update, context: BotContext) -> None:
    """[Retry now] under a failed run: a fresh preview to confirm, as /rebalance."""
    await answer(update)
    await rebalance_command(update, context)


async def _show_preview(
    update: Update,
    context: BotContext,
    preview: Preview,
    head: str = "",
    progress: Progress | None = None,
) -> None:
    text = (head + "\n\n" if head else "") + views.preview_message(preview)
    say = progress.answer if progress is not None else partial(reply, update)
    if not preview.legs or preview.preview_id is None:
        await say(text)
        return
    if context.chat_data is not None:
        kept: dict[int, str] = context.chat_data.setdefault("preview_texts", {})
        kept[preview.preview_id] = views.preview_text(preview)
        for old in sorted(kept)[:-KEPT_PREVIEWS]:
            del kept[old]
    keyboard = views.confirm_keyboard(context.button, str(preview.preview_id))
    await say(text, keyboard)


def _record_of(context: BotContext, shown: Preview) -> str:
    """The preview text the user confirmed (re-rendered from the stored plan after a restart)."""
    kept = context.chat_data.get("preview_texts", {}) if context.chat_data is not None else {}
    if shown.preview_id is not None and shown.preview_id in kept:
        return str(kept.pop(shown.preview_id))
    return views.preview_text(shown)


def _preview_id(context: BotContext) -> int | None:
    _action, token = context.callback or ("", "")
    return int(token) if token.isdecimal() and len(token) < 19 else None


@handles_user_errors
async def confirm_pressed(update: Update, context: BotContext) -> None:
    """Confirm: run exactly the stored preview the user saw, or show what changed since."""
    account = context.require_account()
    preview_id = _preview_id(context)
    await answer(update)
    if await context.services.kill_switch.is_on():
        raise halted()
    rebalancer = context.services.rebalancer
    try:
        if preview_id is None:
            raise PreviewExpired("This preview has expired. Send /rebalance for a fresh one.")
        shown = await rebalancer.previews.take(account.user_id, preview_id)
    except PreviewExpired:  # said apart, so a record already confirmed stays as it is
        await reply(update, views.preview_expired())
        return
    record = _record_of(context, shown)
    status = views.simulating() if shown.dry_run else views.working()
    await edit(update, views.preview_with(record, status))
    queue = context.services.queue
    if queue is not None and shown.preview_id is not None:
        # Distributed: a worker (which owns an IP's exchange budget) runs it; the leader's
        # sender delivers the result, as for scheduled runs.
        message = update.effective_message
        await queue.enqueue(
            account.user_id,
            RunTrigger.MANUAL,
            f"m{shown.preview_id}",
            preview_id=shown.preview_id,
            message_id=message.message_id if message is not None else None,
        )
        return
    result = await rebalancer.run(account.user_id, RunTrigger.MANUAL, shown)
    fresh = result.fresh_preview
    if result.problem == Problem.MARKET_MOVED and fresh is not None:
        await edit(update, views.preview_with(record, views.not_traded()))
        await _show_preview(update, context, fresh, views.preview_changed())
    else:
        report = notifications.result_text(result)
        await edit(
            update,
            views.preview_with(record, report),
            notifications.run_keyboard(result, context.button),
        )
    await rebalancer.mark_notified(account.user_id, result)


@handles_user_errors
async def cancel_pressed(update: Update, context: BotContext) -> None:
    account = context.require_account()
    preview_id = _preview_id(context)
    if preview_id is not None:
        await context.services.rebalancer.previews.discard(account.user_id, preview_id)
    await answer(update)
    await edit(update, views.preview_cancelled())


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    application.add_handler(CommandHandler("portfolio", portfolio_command))
    application.add_handler(CallbackQueryHandler(chart_pressed, pattern=r"^chart\|"))
    application.add_handler(CommandHandler("rebalance", rebalance_command))
    application.add_handler(CallbackQueryHandler(confirm_pressed, pattern=r"^rb_ok\|"))
    application.add_handler(CallbackQueryHandler(retry_pressed, pattern=r"^retry\|"))
    application.add_handler(CallbackQueryHandler(cancel_pressed, pattern=r"^rb_no\|"))
