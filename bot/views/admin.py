"""Texts of /admin: the operator's overview, the kill switch and erasing a user."""

from __future__ import annotations

from bot.i18n import _, ngettext


def admin_only() -> str:
    return _("This command is for the bot's operators.")


def admin_stats(stats: dict[str, int], paused: bool) -> str:
    return "\n".join(
        [
            _("<b>Admin</b>"),
            _("Users: {users}").format(users=stats["users"]),
            _("Active jobs: {active}").format(active=stats["active"]),
            _("Runs in the last 24 h: {runs}, failed: {failures}").format(
                runs=stats["runs"], failures=stats["failures"]
            ),
            _("Kill switch: {state}").format(state=_("ON (all paused)") if paused else _("off")),
            _("/admin pause stops every user's automation; /admin resume restarts it."),
            _("/admin remove <code>user id</code> erases a user and everything of theirs."),
        ]
    )


def admin_paused(count: int) -> str:
    return ngettext(
        "Paused automatic rebalancing for {count} user.",
        "Paused automatic rebalancing for {count} users.",
        count,
    ).format(count=count)


def admin_resumed(count: int) -> str:
    return ngettext(
        "Resumed automatic rebalancing for {count} user.",
        "Resumed automatic rebalancing for {count} users.",
        count,
    ).format(count=count)


def admin_remove_usage() -> str:
    return _("Say whose account to erase: /admin remove <code>telegram user id</code>")


def admin_no_such_user(telegram_id: int) -> str:
    return _("No user with Telegram id {id}. Nothing was erased.").format(id=telegram_id)


def admin_removed(telegram_id: int, *, had_keys: bool) -> str:
    text = _(
        "User {id} is erased: automatic rebalancing stopped, their settings, history and "
        "portfolio records deleted."
    ).format(id=telegram_id)
    if had_keys:
        text += " " + _("Their exchange keys were deleted first.")
    return text
