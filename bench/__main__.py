"""`make bench`: every benchmark in turn; each prints a table and writes bench/results/*.json."""

import asyncio

from bench import planner, telegram_load, wave

planner.main()
asyncio.run(wave.main())
asyncio.run(telegram_load.main())
