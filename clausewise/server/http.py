"""The HTTP protocol the service runs on: uvicorn's httptools protocol, one send per answer.

uvicorn writes the head of a response (status line and headers) as soon as the application
starts it and the body when it comes, so every answer took two `send` system calls, and the
client often two reads. `OneSendProtocol` holds the head of a response until the next write on
the connection and sends both together; a head that nothing follows within the same turn of the
event loop (a streamed answer that is slow to start) is sent on the next turn.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["OneSendProtocol"]

_HEAD = b"HTTP/1.1 "
_CONTINUE = b"HTTP/1.1 100 "


class _HeldHead:
    """A transport that keeps a response head back until the next write, flush or close."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: Any, loop: asyncio.AbstractEventLoop):
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + bytes(data))
        elif (
            isinstance(data, bytes)
            and data.startswith(_HEAD)
            and not data.startswith(_CONTINUE)  # the client waits for it before its body
            and data.endswith(b"\r\n\r\n")
        ):
            self._held = data
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class OneSendProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol whose answers leave in one send each."""

    def connection_made(self, transport: Any) -> None:  # uvloop's are no asyncio.Transport
        held: Any = _HeldHead(transport, self.loop)
        super().connection_made(held)
