"""/history (5 runs a page with ◀ ▶) and /performance (chart and returns)."""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal
from typing import Any

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot.errors import ExchangeError
from bot.handlers.base import BotContext, answer, edit, handles_user_errors, reply
from bot.views import charts, run_details
from bot.views import history as views

RUN_ARG = re.compile(r"^(?:#|run\s*#?|запуск\s*#?)(\d{1,9})$", re.IGNORECASE)
PAGE_ARG = re.compile(r"^(?:(?:page|сторінка|стор\.?)\s*)?(\d{1,6})$", re.IGNORECASE)


@handles_user_errors
async def history_command(update: Update, context: BotContext) -> None:
    """`/history`, `/history 2` (page 2), `/history #12` (run 12)."""
    account = context.require_account()
    text = " ".join(context.args or []).strip()
    if (run := RUN_ARG.match(text)) is not None:
        await _show_run(update, context, int(run.group(1)))
        return
    page_arg = PAGE_ARG.match(text)
    if text and page_arg is None:
        await reply(update, views.history_args_hint())
        return
    number = int(page_arg.group(1)) - 1 if page_arg is not None else 0
    page = await context.services.history.page(account.user_id, number)
    await reply(
        update,
        views.history_text(page, account.timezone),
        views.history_keyboard(page, context.button),
    )


async def _show_run(update: Update, context: BotContext, number: int) -> None:
    account = context.require_account()
    result = await context.services.history.run(account.user_id, number)
    if result is None:
        await reply(update, run_details.run_not_found(number))
        return
    await reply(update, run_details.run_details_text(result, account.timezone))


@handles_user_errors
async def run_pressed(update: Update, context: BotContext) -> None:
    """[Details] under a report, or a run's button under /history: the run, opened."""
    _action, payload = context.callback or ("", "")
    await answer(update)
    if payload.isdecimal() and len(payload) < 10:
        await _show_run(update, context, int(payload))


@handles_user_errors
async def history_page(update: Update, context: BotContext) -> None:
    account = context.require_account()
    _action, payload = context.callback or ("", "0")
    number = int(payload) if payload.isdecimal() else 0
    page = await context.services.history.page(account.user_id, number)
    await answer(update)
    await edit(
        update,
        views.history_text(page, account.timezone),
        views.history_keyboard(page, context.button),
    )


@handles_user_errors
async def performance_command(update: Update, context: BotContext) -> None:
    """Return since the first snapshot against simply holding it, fees, and the value chart."""
    account = context.require_account()
    prices: dict[str, Decimal] | None
    try:
        prices = await context.services.rebalancer.asset_prices(account.user_id)
    except ExchangeError:  # performance still shows what is stored; only the hold line waits
        prices = None
    perf = await context.services.history.performance(
        account.user_id, prices, dry_run=account.dry_run
    )
    if perf is None:
        await reply(update, views.no_performance())
        return
    await reply(update, views.performance_text(perf, account.timezone))
    if len(perf.series) >= 2:
        png = await asyncio.to_thread(
            charts.value_chart,
            list(perf.series),
            title=views.performance_chart_title(),
            quote=perf.quote,
            timezone=account.timezone,
            hold=list(perf.hold_series),
            trades=list(perf.traded_at),
        )
        chat = update.effective_chat
        if chat is not None:
            await chat.send_photo(png, caption=views.performance_chart_title())


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    application.add_handler(CommandHandler("history", history_command))
    application.add_handler(CallbackQueryHandler(history_page, pattern=r"^hist\|"))
    application.add_handler(CallbackQueryHandler(run_pressed, pattern=r"^run\|"))
    application.add_handler(CommandHandler("performance", performance_command))
