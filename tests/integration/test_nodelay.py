"""``registry serve --workers N`` answers without Nagle's stall.

With several workers uvicorn hands each one the listening socket rebuilt from its file
descriptor (``socket.fromfd``), whose ``proto`` reads 0, so asyncio does not set
``TCP_NODELAY`` on the connections it accepts and a response written in two parts waits for
the client's delayed ACK (~40 ms a request on MLflow's server). Whether the stall shows
depends on the kernel's ACK timing, so this reads the option itself: a real uvicorn
protocol on a real socket rebuilt the way the workers get theirs, and a real connection.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.protocols.http.auto import AutoHTTPProtocol
from uvicorn.server import ServerState

from registry_pipeline.server._protocol import NoDelayHTTPProtocol

pytestmark = pytest.mark.integration


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _nodelay_on_accepted(protocol_class: type) -> int:
    """Serve one connection on a listening socket rebuilt from its descriptor, as a uvicorn
    worker does; the ``TCP_NODELAY`` value of the accepted connection."""

    async def serve() -> int:
        config = Config(app=_app, log_level="warning", lifespan="off")
        config.load()
        state = ServerState()
        made: list[Any] = []

        def factory() -> Any:
            protocol = protocol_class(config=config, server_state=state, app_state={})
            made.append(protocol)
            return protocol

        listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        rebuilt = socket.fromfd(listening.fileno(), socket.AF_INET, socket.SOCK_STREAM)
        listening.close()
        assert rebuilt.proto == 0  # what asyncio's own TCP_NODELAY check trips on
        server = await asyncio.get_running_loop().create_server(factory, sock=rebuilt)
        port = rebuilt.getsockname()[1]
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            assert (await reader.readline()).startswith(b"HTTP/1.1 204")
            accepted = made[0].transport.get_extra_info("socket")
            value = int(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()
            await writer.wait_closed()
            return value
        finally:
            server.close()
            await server.wait_closed()

    return asyncio.run(serve())


def test_a_worker_socket_leaves_nagle_on_with_uvicorns_own_protocol() -> None:
    """The condition is real: without ours, the accepted connection keeps Nagle."""
    assert _nodelay_on_accepted(AutoHTTPProtocol) == 0


def test_the_servers_protocol_turns_nagle_off_on_every_connection() -> None:
    assert _nodelay_on_accepted(NoDelayHTTPProtocol) != 0


def test_serve_uses_the_protocol() -> None:
    """``registry serve`` hands uvicorn this protocol, whatever the worker count."""
    import re
    from pathlib import Path

    source = (Path(__file__).resolve().parents[2] / "registry_pipeline/cli/server.py").read_text()
    given = r'^\s+http="registry_pipeline\.server\._protocol:NoDelayHTTPProtocol",$'
    assert re.search(given, source, re.MULTILINE)
