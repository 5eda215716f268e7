"""The server's writer: registrations the event loop queues, applied by one thread in
batches that share one commit.

Handing each registration to a worker thread of its own made every concurrent writer a
thread contending for the interpreter lock and for the group commit's turn: at 16 clients
that was over a hundred futex calls per request and a third of the server's CPU in the
kernel. One thread that takes whatever is queued, applies each change in its own savepoint
(:meth:`~registry_pipeline.store.GroupCommit.holding`) and commits them together keeps the
batches as large as the queue with two threads awake instead of seventeen. A caller is
answered only once its batch is durable; a change refused on its own is answered with its
refusal and undone alone; when the commit itself fails, every change the batch held is
answered with that failure.
"""

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from registry_pipeline.server import _errors
from registry_pipeline.store import Store

#: A queued change: what applies it (answering every outcome with a response, refusals
#: included, and saying whether it changed anything) and where its caller waits.
Job = Callable[[], tuple[Response, bool]]
_Queued = tuple[Job, asyncio.AbstractEventLoop, "asyncio.Future[Response]"]


class Writer:
    """One thread applying queued changes in batches of at most ``cap``."""

    def __init__(self, store: Callable[[], Store], *, cap: int = 64) -> None:
        self._store = store
        self._cap = cap
        self._queue: queue.SimpleQueue[_Queued] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def submit(self, job: Job) -> Response:
        """``job``'s response, once the batch it was applied in is durable."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Response] = loop.create_future()
        self._queue.put((job, loop, future))
        self._start()
        return await future

    def _start(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="registry-writer", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self._cap:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            answers = self._apply([job for job, _, _ in batch])
            for (_, loop, future), answer in zip(batch, answers, strict=True):
                loop.call_soon_threadsafe(_settle, future, answer)

    def _apply(self, jobs: list[Job]) -> list[Response]:
        """Every job's response; those that changed something stand only if the batch
        committed, and are answered with the commit's failure if it did not."""
        group = self._store().group
        answers: list[tuple[Response, bool]] = []
        try:
            if group is None:  # nothing to share: each commits on its own
                return [_applied(job)[0] for job in jobs]
            with group.holding():
                answers = [_applied(job) for job in jobs]
        except Exception as error:  # noqa: BLE001 - the commit failed: so did every change
            failed = _errors.problem_response(error)
            done = [answer for answer, _ in answers]
            return [
                failed if i >= len(answers) or answers[i][1] else done[i] for i in range(len(jobs))
            ]
        return [answer for answer, _ in answers]


def _applied(job: Job) -> tuple[Response, bool]:
    try:
        return job()
    except Exception as error:  # noqa: BLE001 - a job answers its own errors; this is a bug
        return _errors.problem_response(error), False


def _settle(future: "asyncio.Future[Any]", answer: Response) -> None:
    if not future.done():  # the caller may have gone
        future.set_result(answer)
