"""The taskiq broker both sides share: names, queues and the Streams broker's settings."""

from __future__ import annotations

from taskiq.acks import AcknowledgeType
from taskiq_redis import RedisStreamBroker

from bot.config import Settings

RUN_TASK = "rebalance"
TICK_TASK = "tick"
WORKERS_GROUP = "workers"
RESULTS_STREAM = "rb:results"
SENDERS_GROUP = "senders"
SENDER = "sender"  # one consumer name: a new leader reads what the old one left unacked
WORKERS_KEY = "rb:workers"  # hash: shard|consumer -> last heartbeat (unix seconds)
EPOCH_KEY = "rb:epoch"  # set by the leader; gone means Redis lost its data
# Every message of a run is acknowledged by the task itself, after its result is published.
RUN_LABELS = {"ack_type": AcknowledgeType.MANUAL.value}


def queue_name(shard: str) -> str:
    return f"rb:runs:{shard}"


def queue_url(settings: Settings) -> str:
    if settings.queue_url is None:
        raise ValueError("QUEUE_URL is not set")
    return settings.queue_url.get_secret_value()


def make_broker(
    settings: Settings, shard: str, *, consumer: str | None = None
) -> RedisStreamBroker:
    """At-least-once delivery: XREADGROUP, XACK when the task says, XAUTOCLAIM of messages a
    dead consumer held for `queue_idle_timeout_seconds` (well above the longest run)."""
    return RedisStreamBroker(
        queue_url(settings),
        queue_name=queue_name(shard),
        consumer_group_name=WORKERS_GROUP,
        consumer_name=consumer,
        # "0", not "$": messages enqueued before the group existed are delivered too.
        consumer_id="0",
        xread_block=1000,
        idle_timeout=int(settings.queue_idle_timeout_seconds * 1000),
        # A worker killed while holding the claim lock must not stop every claim for ever.
        unacknowledged_lock_timeout=30.0,
        xread_count=10,
    )
