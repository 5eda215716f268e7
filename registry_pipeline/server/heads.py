"""Long polls without a busy loop: one look at the ledger head per process, however many
requests wait for it to move.

While any request waits, one task reads the head every ``interval`` seconds (a one-row
read) and wakes every waiter when it moved; when none waits, nothing runs.
"""

import asyncio
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

from registry_pipeline.core.errors import RegistryError


class HeadWatch:
    """Wait until the ledger head passes a seq, or a timeout."""

    def __init__(self, read_head: Callable[[], int], *, interval: float = 0.2) -> None:
        self._read = read_head
        self._interval = interval
        self._head = -1
        self._moved: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._waiting = 0

    async def wait_past(self, seq: int, timeout: float) -> int:
        """Return once the head is past ``seq`` or ``timeout`` seconds passed; the head as
        last seen (a head seen earlier is never newer than the true one)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._waiting += 1
        try:
            if self._task is None or self._task.done():
                self._moved = asyncio.Event()
                self._task = loop.create_task(self._watch())
            while self._head <= seq:
                left = deadline - loop.time()
                moved = self._moved
                if left <= 0 or moved is None:
                    break
                try:
                    await asyncio.wait_for(moved.wait(), left)
                except TimeoutError:
                    break
            return self._head
        finally:
            self._waiting -= 1

    async def _watch(self) -> None:
        while self._waiting > 0:
            try:
                head = await run_in_threadpool(self._read)
            except RegistryError:  # the database is away: waiters time out and retry
                head = self._head
            if head != self._head:
                self._head = head
                moved, self._moved = self._moved, asyncio.Event()
                if moved is not None:
                    moved.set()
            await asyncio.sleep(self._interval)
