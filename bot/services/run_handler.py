"""One due or queued run, decided without Telegram: what ran, and what the user must be told.

The embedded scheduler and a distributed worker both go through `RunHandler.handle`; what it
returns (`Handled`) is what the process that talks to Telegram delivers (jobs.deliver), in
the same process or from the results stream.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from bot.db.models import RunTrigger
from bot.db.types import utcnow
from bot.errors import NotConfigured, RunInProgress, UserError
from bot.i18n import use_locale
from bot.services.run_result import Problem, RunResult

log = logging.getLogger(__name__)

FAILURES_BEFORE_PAUSE = 3  # scheduled runs failing in a row (not for an outage) pause automation
AUTH_PAUSE = "auth"  # the exchange refused the key: /run re-checks it before re-arming
PAUSING_PROBLEMS = {Problem.AUTH: AUTH_PAUSE, Problem.PERMISSION: AUTH_PAUSE}
NOT_ALLOWED = "not_allowed"  # the user was taken off ALLOWED_USER_IDS


class Kind:
    RESULT = "result"  # a run ended: report it as /notify allows
    PAUSED = "paused"  # a run ended and automation stopped: say why
    NOT_ALLOWED = "not_allowed"  # off the allow-list: automation stops, the user is told once
    BUSY = "busy"  # a manual run found another run of the user under way
    ERROR = "error"  # a manual run refused with a user error (msgid + params)
    NOTHING = "nothing"  # nothing to run or say (automation off, account gone, a duplicate)


@dataclass(frozen=True, slots=True)
class Handled:
    kind: str
    user_id: int
    trigger: str = RunTrigger.AUTO.value
    run_id: int | None = None
    reason: str | None = None
    message: str | None = None  # a user error's msgid
    params: dict[str, str] = field(default_factory=dict)
    chat_message_id: int | None = None  # a manual run: the preview message to edit
    result: RunResult | None = None  # in process only; the stream carries run_id

    def to_fields(self) -> dict[str, str]:
        """The results stream entry (flat strings; the run itself is in the database)."""
        fields = {"kind": self.kind, "user": str(self.user_id), "trigger": self.trigger}
        for name in ("run_id", "reason", "message", "chat_message_id"):
            value = getattr(self, name)
            if value is not None:
                fields[name] = str(value)
        for key, value in self.params.items():
            fields[f"p.{key}"] = value
        return fields

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> Handled:
        def number(name: str) -> int | None:
            value = fields.get(name)
            return int(value) if value is not None and value.lstrip("-").isdecimal() else None

        return cls(
            kind=fields.get("kind", Kind.NOTHING),
            user_id=int(fields.get("user", "0")),
            trigger=fields.get("trigger", RunTrigger.AUTO.value),
            run_id=number("run_id"),
            reason=fields.get("reason"),
            message=fields.get("message"),
            params={k[2:]: v for k, v in fields.items() if k.startswith("p.")},
            chat_message_id=number("chat_message_id"),
        )


def pause_reason(result: RunResult) -> str | None:
    """Why a scheduled run's outcome stops the user's automation, if it does."""
    if result.problem in PAUSING_PROBLEMS:
        return PAUSING_PROBLEMS[result.problem]
    if result.problem == Problem.NOT_CONFIGURED:
        return "not_configured"
    streak = result.detail.get("failure_streak")
    if isinstance(streak, int) and streak >= FAILURES_BEFORE_PAUSE:
        return "errors"
    return None


class RunHandler:
    """Runs one user's due (or confirmed) rebalance and records the schedule's side of it."""

    def __init__(self, accounts: Any, rebalancer: Any, settings: Any) -> None:
        self._accounts = accounts
        self._rebalancer = rebalancer
        self._settings = settings

    async def handle(
        self,
        user_id: int,
        trigger: str,
        *,
        slot: str | None = None,
        preview_id: int | None = None,
        chat_message_id: int | None = None,
    ) -> Handled:
        """ShuttingDown propagates: nothing was recorded, the run is to happen later."""
        try:
            account = await self._accounts.get(user_id)
        except NotConfigured:  # erased: nothing to run, nobody to tell
            return Handled(Kind.NOTHING, user_id, trigger)
        manual = trigger == RunTrigger.MANUAL.value
        if not manual:
            if not self._settings.allows(account.telegram_id):  # the gate does not see jobs
                return Handled(Kind.NOT_ALLOWED, user_id, trigger)
            if account.blocked_bot or not account.is_running:
                return Handled(Kind.NOTHING, user_id, trigger)
        try:
            with use_locale(account.language):  # what the run records is in their language
                result = await self._run(user_id, trigger, slot, preview_id)
        except RunInProgress as busy:
            log.info("user %s: %s run skipped, another run is in progress", user_id, trigger)
            if not manual:
                return Handled(Kind.NOTHING, user_id, trigger)
            return Handled(
                Kind.BUSY, user_id, trigger, message=busy.message, chat_message_id=chat_message_id
            )
        except NotConfigured as error:
            if manual:
                return _error(user_id, trigger, error, chat_message_id)
            await self._accounts.set_schedule(
                user_id, running=False, paused_reason="not_configured", clear_next=True
            )
            return Handled(Kind.PAUSED, user_id, trigger, reason="not_configured")
        except UserError as error:  # a manual run's preview gone, the kill switch on, ...
            if not manual:
                raise
            return _error(user_id, trigger, error, chat_message_id)
        if manual:
            return Handled(
                Kind.RESULT,
                user_id,
                trigger,
                run_id=result.run_id,
                chat_message_id=chat_message_id,
                result=result,
            )
        return await self._scheduled_outcome(user_id, trigger, result)

    async def _scheduled_outcome(self, user_id: int, trigger: str, result: RunResult) -> Handled:
        """A scheduled run's side effects on the schedule: last run, and a pause if due."""
        if not result.repeated:
            await self._accounts.set_schedule(user_id, last_run_at=utcnow())
        reason = pause_reason(result)
        if reason is not None:
            log.info("user %s: automation paused (%s)", user_id, reason)
            await self._accounts.set_schedule(
                user_id, running=False, paused_reason=reason, clear_next=True
            )
            return Handled(
                Kind.PAUSED, user_id, trigger, run_id=result.run_id, reason=reason, result=result
            )
        return Handled(Kind.RESULT, user_id, trigger, run_id=result.run_id, result=result)

    async def _run(
        self, user_id: int, trigger: str, slot: str | None, preview_id: int | None
    ) -> RunResult:
        if preview_id is None:
            return await self._rebalancer.run(user_id, trigger, slot=slot)
        shown = await self._rebalancer.previews.load(user_id, preview_id)
        if shown is None:
            raise NotConfigured("This preview has expired. Send /rebalance for a fresh one.")
        return await self._rebalancer.run(user_id, trigger, shown, slot=slot)


def _error(user_id: int, trigger: str, error: UserError, chat_message_id: int | None) -> Handled:
    return Handled(
        Kind.ERROR,
        user_id,
        trigger,
        message=error.message,
        params={k: str(v) for k, v in error.params.items()},
        chat_message_id=chat_message_id,
    )
