"""Rebalance bot: a multi-user Telegram bot that keeps crypto portfolios at their target weights."""

__version__ = "0.1.0"
