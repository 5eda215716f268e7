"""Sending one webhook delivery: a signed POST that has 10 s in all, follows no redirect,
and connects only to the addresses it checked.

The host is resolved here, each address checked (loopback, private, link-local and other
non-public addresses are refused unless allowed) and the connection made to a checked
address, so a name that resolves differently a moment later cannot slip past the check.
Signatures come from the ``standardwebhooks`` library.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpcore
from standardwebhooks.webhooks import Webhook

from registry_pipeline.core.errors import BadInput, Step
from registry_pipeline.core.webhooks import ATTEMPT_TIMEOUT, first_problem

_DEADLINE = threading.local()
MAX_ERROR = 300


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """What one POST to a receiver came to."""

    ok: bool
    status_code: int | None
    latency_ms: float
    error: str | None


class _Refused(Exception):
    """A receiver address the sender must not call."""


def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (an IP literal: itself)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check_receiver(url: str, *, allow_private: bool) -> None:
    """Refuse a receiver URL whose host does not resolve, or resolves to an address the
    registry must not call.

    Raises:
        BadInput: naming the host and the address.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError):
        raise BadInput(f"webhook host {host!r} does not resolve; check the URL") from None
    problem = None if allow_private else first_problem(addresses)
    if problem is not None:
        raise BadInput(
            f"webhook URL host {host!r} resolves to {problem}",
            step=Step.ALLOW_PRIVATE_WEBHOOKS,
        )


class _Stream(httpcore.NetworkStream):
    """A connection whose every read and write stops at the delivery's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    @staticmethod
    def _left(timeout: float | None) -> float:
        left = getattr(_DEADLINE, "at", time.monotonic() + ATTEMPT_TIMEOUT) - time.monotonic()
        if left <= 0:
            raise httpcore.ReadTimeout("the delivery's time is up")
        return min(left, timeout) if timeout is not None else left

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._left(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        return _Stream(self._inner.start_tls(*args, **kwargs))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _GuardedBackend(httpcore.SyncBackend):
    """Resolves, checks, then connects to the checked address."""

    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = resolve(host, port)
        if not self._allow_private:
            problem = first_problem(addresses)
            if problem is not None:
                raise _Refused(f"refused: {host} resolves to {problem}")
        return _Stream(
            super().connect_tcp(addresses[0], port, timeout, local_address, socket_options)
        )


class Sender:
    """Delivers signed messages; one per dispatcher, shared by its threads."""

    def __init__(self, *, allow_private: bool, timeout: float = ATTEMPT_TIMEOUT) -> None:
        self._timeout = timeout
        self._pool = httpcore.ConnectionPool(
            network_backend=_GuardedBackend(allow_private=allow_private),
            max_connections=64,
            max_keepalive_connections=32,
            keepalive_expiry=30.0,
        )

    def send(self, url: str, secret: str, *, message_id: str, body: bytes) -> Attempt:
        """POST ``body`` to ``url`` signed with ``secret``; a 2xx within the timeout is ok."""
        now = datetime.now(UTC)
        signature = Webhook(secret).sign(message_id, now, body.decode("utf-8"))
        headers = [
            (b"content-type", b"application/json"),
            (b"user-agent", b"registry-pipeline-webhooks/1"),
            (b"webhook-id", message_id.encode("ascii")),
            (b"webhook-timestamp", str(int(now.timestamp())).encode("ascii")),
            (b"webhook-signature", signature.encode("ascii")),
        ]
        limit = self._timeout
        started = time.monotonic()
        _DEADLINE.at = started + limit
        extensions = {"timeout": {"connect": limit, "read": limit, "write": limit, "pool": limit}}
        try:
            with self._pool.stream(
                "POST", url, headers=headers, content=body, extensions=extensions
            ) as response:
                status = response.status
            failed = None if 200 <= status < 300 else f"HTTP {status}"
            return Attempt(
                ok=failed is None, status_code=status, latency_ms=_ms(started), error=failed
            )
        except _Refused as e:
            return Attempt(ok=False, status_code=None, latency_ms=_ms(started), error=str(e))
        except httpcore.TimeoutException:
            error = f"no answer within {limit:g} s"
        except (httpcore.NetworkError, httpcore.ProtocolError, OSError) as e:
            error = f"{type(e).__name__}: {str(e)[:MAX_ERROR] or 'connection failed'}"
        except httpcore.UnsupportedProtocol as e:
            error = f"unsupported URL: {str(e)[:MAX_ERROR]}"
        finally:
            _DEADLINE.at = time.monotonic() + limit
        return Attempt(ok=False, status_code=None, latency_ms=_ms(started), error=error)

    def close(self) -> None:
        """Close pooled connections."""
        self._pool.close()


def _ms(started: float) -> float:
    return (time.monotonic() - started) * 1000
