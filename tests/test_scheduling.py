"""The user's job fires at nominal times: jitter never accumulates, and a daily or weekly run
keeps its local time of day across DST. Fires are simulated through the trigger of the very job
`schedule_job` creates, stepping it as APScheduler does (the next fire from the previous one)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from telegram.ext import ApplicationBuilder

from bot import jobs
from bot.scheduling import Cadence, CadenceTrigger

KYIV = ZoneInfo("Europe/Kyiv")


def _trigger(interval: int, first: datetime, **kwargs: Any) -> Any:
    """The APScheduler trigger of the job schedule_job makes (the scheduler is not started)."""
    application = ApplicationBuilder().token("1:test").build()
    job = jobs.schedule_job(
        application, user_id=1, chat_id=1, interval_seconds=interval, first=first, **kwargs
    )
    return job.job.trigger


def _fires(trigger: Any, count: int, start: datetime) -> Iterator[datetime]:
    fire = trigger.get_next_fire_time(None, start)
    for _ in range(count):
        yield fire
        # APScheduler asks for the next fire after the one that just ran, at about that time.
        fire = trigger.get_next_fire_time(fire, fire)


def test_200_fires_of_15_minutes_do_not_creep() -> None:
    anchor = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    trigger = _trigger(900, anchor)
    jitter = jobs._jitter(900)
    assert jitter > 0  # the test would prove nothing without one
    late = []
    for k, fire in enumerate(_fires(trigger, 200, anchor)):
        nominal = anchor + timedelta(seconds=900 * k)
        assert nominal <= fire <= nominal + timedelta(seconds=jitter), (k, fire)
        late.append((fire - nominal).total_seconds())
    # Spread over the jitter window, not growing with k (it grew 15 s a run before).
    assert max(late[-50:]) <= jitter
    assert sum(late[-50:]) / 50 < jitter


def test_a_daily_run_keeps_09_00_local_across_both_dst_changes() -> None:
    for first_day in (
        datetime(2026, 3, 27, 9, 0, tzinfo=KYIV),
        datetime(2026, 10, 23, 9, tzinfo=KYIV),
    ):
        anchor = first_day.astimezone(UTC)
        trigger = _trigger(86_400, anchor, timezone="Europe/Kyiv")
        fires = list(_fires(trigger, 5, anchor))
        local = [fire.astimezone(KYIV) for fire in fires]
        assert [(t.hour, t.minute) for t in local] == [(9, 0)] * 5, local
        assert [t.day for t in local] == [first_day.day + k for k in range(5)]
        # The change happened in between: the same 09:00 is a different hour in UTC.
        assert len({fire.hour for fire in fires}) == 2


def test_a_weekly_run_keeps_its_local_time_across_dst() -> None:
    anchor = datetime(2026, 3, 22, 9, 0, tzinfo=KYIV).astimezone(UTC)  # Sunday before the change
    trigger = _trigger(7 * 86_400, anchor, timezone="Europe/Kyiv")
    local = [fire.astimezone(KYIV) for fire in _fires(trigger, 3, anchor)]
    assert [(t.month, t.day, t.hour) for t in local] == [(3, 22, 9), (3, 29, 9), (4, 5, 9)]


def test_hourly_runs_stay_on_the_hour_in_utc_across_dst() -> None:
    anchor = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)  # the change is at 01:00 UTC
    trigger = _trigger(3600, anchor, timezone="Europe/Kyiv")
    fires = list(_fires(trigger, 4, anchor))
    assert [f.replace(second=0, microsecond=0) for f in fires] == [
        anchor + timedelta(hours=k) for k in range(4)
    ]


def test_a_run_missed_while_down_happens_soon_and_the_next_keeps_the_time() -> None:
    """restore_jobs: the stored nominal time passed; one run now, then the usual 09:00."""
    anchor = datetime(2026, 6, 1, 9, 0, tzinfo=KYIV).astimezone(UTC)
    soon = anchor + timedelta(days=2, hours=5)  # came back up at 14:00 two days later
    trigger = _trigger(86_400, soon, timezone="Europe/Kyiv", anchor=anchor)
    first, second = list(_fires(trigger, 2, soon))
    assert soon <= first <= soon + timedelta(seconds=30)
    assert second.astimezone(KYIV).replace(second=0, microsecond=0) == datetime(
        2026, 6, 4, 9, 0, tzinfo=KYIV
    )


@pytest.mark.parametrize("interval", [900, 3600, 86_400, 7 * 86_400, 2 * 86_400])
def test_next_after_is_the_following_nominal_time(interval: int) -> None:
    cadence = Cadence(datetime(2026, 3, 20, 7, 0, tzinfo=UTC), interval, "Europe/Kyiv")
    for k in range(0, 60):
        nominal = cadence.nominal(k)
        assert cadence.next_after(nominal) == cadence.nominal(k + 1)
        assert cadence.next_after(nominal - timedelta(seconds=1)) == nominal
    assert cadence.next_after(cadence.anchor - timedelta(days=3)) == cadence.anchor


def test_the_jitter_stays_below_the_interval() -> None:
    cadence = Cadence(datetime(2026, 1, 1, tzinfo=UTC), 2)
    assert CadenceTrigger(cadence, 30.0).jitter <= 0.5
