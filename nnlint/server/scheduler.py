"""When lint work runs: debounced per document, one job at a time on one thread, stale work dropped.

- All calls into the linter run on one worker thread: the core is not thread-safe, and with the
  GIL a second thread would not lint faster anyway. The event loop stays free to read messages.
- A document's new version cancels that document's pending work: a job still waiting out its
  debounce delay, or queued behind another document's job, never runs.
- A job already running when a newer version arrives finishes, and its result is thrown away by
  its caller (the task is cancelled while it waits). It is not interrupted: most of a lint is
  LibCST's native parse, which cannot be interrupted from Python, so interrupting the rest would
  save little (a 1,000-line file: parse ~90 ms of a ~100 ms lint).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class LintScheduler:
    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nnlint-lint")
        self._pending: dict[str, asyncio.Task[Any]] = {}

    async def run(self, work: Callable[[], T]) -> T:
        """Run ``work`` on the lint thread. If the awaiting task is cancelled before the work
        starts, the work never runs."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, work)

    def schedule(self, key: str, delay: float, job: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        """Run ``job`` after ``delay`` seconds, replacing (cancelling) the pending job of ``key``."""
        self.cancel(key)
        task = asyncio.ensure_future(self._after(delay, job))
        self._pending[key] = task
        task.add_done_callback(lambda done: self._forget(key, done))
        return task

    def cancel(self, key: str) -> bool:
        """Cancel ``key``'s pending job; True when there was one."""
        task = self._pending.pop(key, None)
        if task is None or task.done():
            return False
        task.cancel()
        return True

    def is_pending(self, key: str) -> bool:
        task = self._pending.get(key)
        return task is not None and not task.done()

    def close(self) -> None:
        for key in list(self._pending):
            self.cancel(key)
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _after(self, delay: float, job: Callable[[], Awaitable[None]]) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        await job()

    def _forget(self, key: str, task: asyncio.Task[Any]) -> None:
        if self._pending.get(key) is task:
            del self._pending[key]
