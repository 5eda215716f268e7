"""The HTTP client retries reads, never writes: a write the server may already have
committed is not sent twice. A real TCP peer that drops every connection unanswered."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from registry_pipeline.client import READ_RETRIES, RemoteRegistry
from registry_pipeline.errors import StoreUnavailable

pytestmark = pytest.mark.integration


class Dropper:
    """Accepts connections, reads the request, and closes without an answer."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.requests: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            with connection:
                first_line = connection.recv(65536).split(b"\r\n", 1)[0]
                if first_line:
                    self.requests.append(first_line)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def dropper() -> Iterator[Dropper]:
    peer = Dropper()
    yield peer
    peer.close()


def test_a_read_is_tried_again_and_then_named_unreachable(dropper: Dropper) -> None:
    client = RemoteRegistry(dropper.url, token="rgp_x")
    with pytest.raises(
        StoreUnavailable, match=f"cannot reach the registry server at {dropper.url}"
    ):
        client.show("support-bot@1")
    assert dropper.requests == [b"GET /api/v1/versions/support-bot@1 HTTP/1.1"] * (READ_RETRIES + 1)


def test_a_write_is_sent_once(dropper: Dropper) -> None:
    client = RemoteRegistry(dropper.url, token="rgp_x")
    with pytest.raises(StoreUnavailable, match="cannot reach the registry server"):
        client.request_promotion("support-bot@1", to="staging", reason="ready")
    assert len(dropper.requests) == 1
    assert dropper.requests[0].startswith(b"POST ")
