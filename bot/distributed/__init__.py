"""Distributed mode: runs on taskiq workers over Redis Streams (QUEUE_URL set).

`rebalance-bot run` keeps Telegram, the scheduler and the sender (one leader at a time);
`rebalance-bot worker` runs rebalances for its shard. README "Running on several machines".
"""
