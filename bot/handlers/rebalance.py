"""/portfolio (with a chart) and /rebalance (preview, then Confirm or Cancel within 2 minutes)."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot.db.models import RunTrigger
from bot.errors import AuthenticationFailed, PermissionDenied, TemporaryExchangeError
from bot.handlers.base import BotContext, answer, edit, handles_user_errors, reply
from bot.services.kill_switch import halted
from bot.services.run_result import Preview, Problem
from bot.views import charts, notifications
from bot.views import rebalance as views

PENDING_KEY = "pending_rebalance"


async def _preview(update: Update, context: BotContext) -> Preview | None:
    """A fresh plan, or a clear answer about why there is none (keys, exchange down)."""
    account = context.require_account()
    try:
        return await context.services.rebalancer.preview(account.user_id)
    except AuthenticationFailed:
        await reply(update, notifications.result_text_for_problem(Problem.AUTH))
    except PermissionDenied:
        await reply(update, notifications.result_text_for_problem(Problem.PERMISSION))
    except TemporaryExchangeError:
        await reply(update, notifications.result_text_for_problem(Problem.UNAVAILABLE))
    return None


@handles_user_errors
async def portfolio_command(update: Update, context: BotContext) -> None:
    """Holdings with amount, value, weight, target and drift; a button sends the chart."""
    preview = await _preview(update, context)
    if preview is None:
        return
    if context.chat_data is not None:
        context.chat_data["last_portfolio"] = preview
    await reply(update, views.portfolio_text(preview), views.chart_keyboard(context.button))


@handles_user_errors
async def chart_pressed(update: Update, context: BotContext) -> None:
    """Render the allocation chart off the event loop and send it as a photo."""
    await answer(update)
    preview = context.chat_data.get("last_portfolio") if context.chat_data is not None else None
    if not isinstance(preview, Preview):
        preview = await _preview(update, context)
        if preview is None:
            return
    png = await asyncio.to_thread(
        charts.allocation_chart,
        preview.current_weights,
        preview.target_weights,
        title=views.chart_title(),
        labels=views.chart_labels(),
    )
    chat = update.effective_chat
    if chat is not None:
        await chat.send_photo(png, caption=views.chart_title())


@handles_user_errors
async def rebalance_command(update: Update, context: BotContext) -> None:
    """Plan now and show the preview with Confirm / Cancel."""
    preview = await _preview(update, context)
    if preview is None:
        return
    if not preview.legs:
        await reply(update, views.preview_text(preview))
        return
    token = secrets.token_hex(4)
    if context.chat_data is not None:
        context.chat_data[PENDING_KEY] = (token, time.monotonic(), preview)
    await reply(update, views.preview_text(preview), views.confirm_keyboard(context.button, token))


def _take_pending(context: BotContext, token: str) -> Preview | None:
    """The preview this button belongs to, if it is the latest one and not expired (once)."""
    data = context.chat_data
    pending = data.get(PENDING_KEY) if data is not None else None
    if not pending or pending[0] != token:
        return None
    if data is not None:
        data.pop(PENDING_KEY, None)
    if time.monotonic() - pending[1] > views.PREVIEW_TTL_SECONDS:
        return None
    preview: Preview = pending[2]
    return preview


@handles_user_errors
async def confirm_pressed(update: Update, context: BotContext) -> None:
    """Confirm: run with the previewed plan (re-checked against the market), then report."""
    account = context.require_account()
    _action, token = context.callback or ("", "")
    preview = _take_pending(context, token)
    await answer(update)
    if preview is None or preview.user_id != account.user_id:
        await edit(update, views.preview_expired())
        return
    if await context.services.kill_switch.is_on():
        raise halted()
    await edit(update, views.simulating() if preview.dry_run else views.working())
    result = await context.services.rebalancer.run(account.user_id, RunTrigger.MANUAL, preview)
    await reply(update, notifications.result_text(result))
    await context.services.rebalancer.mark_notified(account.user_id, result)


@handles_user_errors
async def cancel_pressed(update: Update, context: BotContext) -> None:
    _action, token = context.callback or ("", "")
    _take_pending(context, token)
    await answer(update)
    await edit(update, views.preview_cancelled())


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    application.add_handler(CommandHandler("portfolio", portfolio_command))
    application.add_handler(CallbackQueryHandler(chart_pressed, pattern=r"^chart\|"))
    application.add_handler(CommandHandler("rebalance", rebalance_command))
    application.add_handler(CallbackQueryHandler(confirm_pressed, pattern=r"^rb_ok\|"))
    application.add_handler(CallbackQueryHandler(cancel_pressed, pattern=r"^rb_no\|"))
