"""uvicorn's HTTP protocol with Nagle's algorithm off on every connection.

asyncio turns ``TCP_NODELAY`` on for a TCP socket only when the socket says it is TCP
(``sock.proto == IPPROTO_TCP``). With several workers uvicorn hands each worker the
listening socket rebuilt from its file descriptor, whose ``proto`` reads 0, so accepted
connections keep Nagle's algorithm: a response written in two parts waits for the client's
delayed ACK, ~40 ms per request. Setting the option on each connection removes the stall
whatever the worker count.
"""

import asyncio
import contextlib
import socket

from uvicorn.protocols.http.auto import AutoHTTPProtocol


class NoDelayHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """The HTTP protocol uvicorn would pick, with ``TCP_NODELAY`` set on connect."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):  # not a TCP socket after all
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
