"""Webhook receivers for the tests: real HTTP servers on 127.0.0.1 that record every POST
(its arrival time, headers and body) and answer as a test's policy says."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook


@dataclass(frozen=True)
class Received:
    """One POST as it arrived."""

    at: float
    headers: dict[str, str]
    body: bytes
    attempt: int
    """How many POSTs with this webhook-id had arrived, this one included."""

    @property
    def seq(self) -> int:
        return int(json.loads(self.body)["seq"])

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]


Policy = Callable[[Received], int | tuple[float, int]]
"""What to answer: a status code, or (seconds to sleep first, status code)."""


class Receiver:
    """The POSTs received, in arrival order."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.received: list[Received] = []
        self.lock = threading.Lock()

    def verified(self, secret: str) -> list[dict[str, Any]]:
        """Every body, each checked with the Standard Webhooks verifier and ``secret``."""
        with self.lock:
            arrived = list(self.received)
        return [Webhook(secret).verify(r.body, r.headers) for r in arrived]

    def seqs(self) -> list[int]:
        """The seq of every POST, in arrival order (duplicates included)."""
        with self.lock:
            return [r.seq for r in self.received]

    def first_arrivals(self) -> list[int]:
        """Seqs in order of first arrival, duplicates dropped (as a receiver dedupes on
        ``webhook-id``)."""
        seen: dict[str, int] = {}
        with self.lock:
            for r in self.received:
                seen.setdefault(r.id, r.seq)
        return list(seen.values())


def always_ok(_: Received) -> int:
    return 204


@contextmanager
def receiving(policy: Policy = always_ok, path: str = "/hooks/registry") -> Iterator[Receiver]:
    """A receiver on a free port of 127.0.0.1, stopped on exit."""
    counts: dict[str, int] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = min(int(self.headers.get("content-length", "0")), 1 << 20)
            body = self.rfile.read(length)
            if not body or len(body) < length:  # the sender died mid-request: nothing arrived
                self.send_error(400, "truncated body")
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            with receiver.lock:
                key = headers.get("webhook-id", "")
                counts[key] = counts.get(key, 0) + 1
                got = Received(at=time.monotonic(), headers=headers, body=body, attempt=counts[key])
                receiver.received.append(got)
            answer = policy(got)
            pause, status = answer if isinstance(answer, tuple) else (0.0, answer)
            if pause:
                time.sleep(pause)
            try:
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()
            except OSError:
                pass  # the sender gave up waiting

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver = Receiver(f"http://127.0.0.1:{server.server_address[1]}{path}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll ``condition`` every 0.1 s until it holds; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)
