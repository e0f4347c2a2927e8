"""A TCP proxy that forwards bytes and does nothing else: the floor under every gateway in the peers section.

A gateway between a client and the upstream puts two more loopback hops on each request: the client's
bytes reach the gateway's process, which must wake and write them on, and the upstream's answer comes
back the same way. On this kind of machine (a VM whose idle vCPUs halt) that costs a few hundred
microseconds before a gateway has parsed a single header, and the TTFT targets are measured against it.
This proxy pays only that: each accepted connection gets its own upstream connection, opened when the
client connects, and the bytes of each side are written to the other as they arrive (no parsing, no
buffering beyond the transports', TCP_NODELAY both ways, reading paused while the other side's write
buffer is full). An end of data from one side is passed on as a half-close, so the other can still
answer; a connection that is lost closes the other one once its pending bytes are written.

    python -m bench.byte_proxy --port 9000 --upstream 127.0.0.1:8000

The peers section reports it as `byte-proxy`: it is not a peer (never the "best peer" a ratio is taken
against), it is the part of every added figure that no gateway can remove.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
from collections.abc import Sequence
from typing import cast

__all__ = ["Side", "main", "serve"]


def _no_delay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Side(asyncio.Protocol):
    """One connection of a pair; what it reads is written to `other`'s transport."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.other: Side | None = None
        self.early: list[bytes] = []  # read before the other side was connected
        self.eof = False  # this side will send no more
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        _no_delay(transport)

    def data_received(self, data: bytes) -> None:
        other = self.other
        if other is None or other.transport is None:
            self.early.append(data)
            return
        other.transport.write(data)

    def eof_received(self) -> bool:
        self.eof = True
        other = self.other
        if other is None or other.transport is None:
            return True  # passed on by pair()
        if other.eof:  # both directions have ended
            return False
        if other.transport.can_write_eof():
            other.transport.write_eof()
            return True  # keep writing what the other side still answers
        self._close_other()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._close_other()

    # This side's transport calls these when its write buffer (the other side's bytes) fills or drains:
    # reading the other side waits until it has room again.
    def pause_writing(self) -> None:
        if self.other is not None and self.other.transport is not None:
            self.other.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.other is not None and self.other.transport is not None:
            self.other.transport.resume_reading()

    def pair(self, other: Side) -> None:
        """Join two connected sides and hand over what either read before the join."""
        self.other, other.other = other, self
        for side in (self, other):
            early, side.early = side.early, []
            for data in early:
                side.data_received(data)
        for side in (self, other):
            if side.closed:
                side._close_other()
            elif side.eof and side.transport is not None and not side.eof_received():
                side.transport.close()

    def _close_other(self) -> None:
        other = self.other
        if other is not None and other.transport is not None and not other.transport.is_closing():
            other.transport.close()  # after its buffered bytes are written


async def serve(host: str, port: int, upstream_host: str, upstream_port: int) -> None:
    loop = asyncio.get_running_loop()
    connecting: set[asyncio.Task[None]] = set()  # held until done: the loop keeps only weak references

    def accepted() -> Side:
        client = Side()

        async def connect() -> None:
            try:
                _, upstream = await loop.create_connection(Side, upstream_host, upstream_port)
            except OSError:
                if client.transport is not None:
                    client.transport.abort()
                return
            client.pair(upstream)

        task = loop.create_task(connect())
        connecting.add(task)
        task.add_done_callback(connecting.discard)
        return client

    server = await loop.create_server(accepted, host, port, backlog=1024)
    async with server:
        await server.serve_forever()


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"--upstream must be HOST:PORT, got {text!r}")
    return host or "127.0.0.1", int(port)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.byte_proxy", description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstream", type=_address, required=True, help="HOST:PORT to forward to")
    args = p.parse_args(argv)
    import uvloop  # the gateway's own loop, so the floor is not a slower event loop's

    upstream_host, upstream_port = args.upstream
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(serve(args.host, args.port, upstream_host, upstream_port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
