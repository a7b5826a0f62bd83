"""Texts of /dryrun wallet and /dryrun reset."""

from __future__ import annotations

from decimal import Decimal

from bot.i18n import _, fmt_money
from bot.services.accounts import Account


def _when_used(account: Account) -> str:
    if account.dry_run:
        return _("The next dry run trades it.")
    return _("Dry-run is off now; dry runs trade it once you switch back with /dryrun on.")


def paper_set(account: Account, amount: Decimal) -> str:
    return (
        _("Paper wallet set: {amount}, nothing else.").format(
            amount=fmt_money(amount, account.strategy.quote)
        )
        + " "
        + _when_used(account)
    )


def paper_reset(account: Account, default: Decimal) -> str:
    if account.has_keys:
        text = _("Paper wallet reset: it starts again from your real balances.")
    else:
        text = _("Paper wallet reset: it starts again from {amount}.").format(
            amount=fmt_money(default, account.strategy.quote)
        )
    return text + " " + _when_used(account)


def paper_usage() -> str:
    return _(
        "Use /dryrun wallet 5000 (a paper wallet of 5,000 in your quote currency) or "
        "/dryrun reset (start again from your real balances)."
    )
