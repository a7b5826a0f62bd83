"""Pure rebalancing logic on plain values: no I/O, no clock, no randomness."""
