"""/dryrun wallet 5000 and /dryrun reset: the paper wallet dry runs trade. (/dryrun on|off,
the mode itself, is in settings.)"""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import Application, CommandHandler, filters

from bot.domain.parsing import parse_paper_amount
from bot.handlers.base import BotContext, handles_user_errors, reply
from bot.services.run_snapshot import DEFAULT_PAPER_AMOUNT
from bot.views import paper as views

WALLET_WORDS = ("wallet", "гаманець")
RESET_WORDS = ("reset", "скинути")
PAPER_ARGS = filters.Regex(
    r"(?i)^/dryrun(@\w+)?\s+(" + "|".join(WALLET_WORDS + RESET_WORDS) + r")\b"
)


@handles_user_errors
async def paper_command(update: Update, context: BotContext) -> None:
    """Seed the paper wallet with an amount of the quote, or from the real balances again."""
    account = context.require_account()
    args = list(context.args or [])
    quote = account.strategy.quote
    if args[0].lower() in RESET_WORDS:
        await context.services.accounts.set_paper_wallet(account.user_id, None)
        await reply(update, views.paper_reset(account, DEFAULT_PAPER_AMOUNT))
        return
    if len(args) != 2:
        await reply(update, views.paper_usage())
        return
    amount = parse_paper_amount(args[1])
    await context.services.accounts.set_paper_wallet(account.user_id, {quote: amount})
    await reply(update, views.paper_set(account, amount))


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    # Before settings' /dryrun, which takes every other form of the command.
    application.add_handler(CommandHandler("dryrun", paper_command, filters=PAPER_ARGS))
