"""When a user's job fires: nominal times from a fixed anchor, each jittered on its own.

APScheduler's IntervalTrigger adds the interval to the previous *jittered* fire time, so the
jitter accumulates (a 15-minute interval ran 24 minutes late after 96 runs) and a fixed
86,400 s moves a local 09:00 by an hour across DST. Here every fire is `anchor + k * interval`
plus a fresh jitter, and whole-day intervals step the user's local calendar instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger

DAY_SECONDS = 86_400


@dataclass(frozen=True, slots=True)
class Cadence:
    """The nominal run times of one user: `anchor` (aware UTC) and every `interval` after it;
    an interval of whole days keeps the anchor's wall-clock time in `timezone`."""

    anchor: datetime
    interval_seconds: int
    timezone: str = "UTC"

    @property
    def by_calendar(self) -> bool:
        return self.interval_seconds % DAY_SECONDS == 0

    def nominal(self, k: int) -> datetime:
        """The k-th nominal run time (k = 0 is the anchor)."""
        if not self.by_calendar:
            return self.anchor + timedelta(seconds=k * self.interval_seconds)
        zone = ZoneInfo(self.timezone)
        wall = self.anchor.astimezone(zone).replace(tzinfo=None)
        days = k * (self.interval_seconds // DAY_SECONDS)
        # Local arithmetic, then back to UTC: 09:00 stays 09:00 whatever the offset that day.
        return (wall + timedelta(days=days)).replace(tzinfo=zone).astimezone(UTC)

    def next_after(self, moment: datetime) -> datetime:
        """The first nominal time strictly after `moment` (the anchor if it is still ahead)."""
        if moment < self.anchor:
            return self.anchor
        k = int((moment - self.anchor).total_seconds() // self.interval_seconds) + 1
        # A DST change moves calendar steps by an hour: settle on the exact neighbour.
        while k > 0 and self.nominal(k - 1) > moment:
            k -= 1
        while self.nominal(k) <= moment:
            k += 1
        return self.nominal(k)


class CadenceTrigger(BaseTrigger):
    """Fires at each nominal time of a Cadence plus up to `jitter` seconds, never earlier than
    the time the user was shown. `first` overrides the first fire only (a run missed while the
    bot was down happens soon; the ones after it keep the anchor's times)."""

    __slots__ = ("cadence", "first", "jitter")

    def __init__(self, cadence: Cadence, jitter: float, first: datetime | None = None) -> None:
        # The jitter must stay below the interval, or "the next nominal time after the previous
        # fire" could skip one.
        self.cadence = cadence
        self.jitter = max(0.0, min(jitter, cadence.interval_seconds / 4))
        self.first = first

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        if previous_fire_time is None:
            start = self.first if self.first is not None else self.cadence.anchor
        else:
            # The previous fire is at most `jitter` after its nominal time, so the next nominal
            # time after it is the following one: the jitter never carries over.
            start = self.cadence.next_after(previous_fire_time)
        fire: datetime | None = self._apply_jitter(start, self.jitter, now)
        return fire

    def __str__(self) -> str:
        return f"cadence[{self.cadence.interval_seconds}s from {self.cadence.anchor.isoformat()}]"
