"""Telegram in: one module per feature; each parses, calls a service and renders a view."""

from __future__ import annotations

from typing import Any

from telegram.ext import Application

from bot.handlers import (
    admin,
    dialogs,
    history,
    keys,
    menu,
    paper,
    rebalance,
    schedule,
    settings,
    targets,
)
from bot.handlers.gates import install_gates

FEATURES = (menu, keys, targets, schedule, paper, settings, rebalance, history, admin)


def register_handlers(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    install_gates(application)
    for feature in FEATURES:
        feature.register(application)
    dialogs.register(application)  # after every command: text goes to an open dialog
    menu.register_fallbacks(application)  # last: whatever nobody took
