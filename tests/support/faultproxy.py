"""A fault-injecting TCP proxy between the runtime and an OPC UA server (or any TCP server).

Runs its own asyncio loop in a background thread, so a synchronous test can drive
it while the runtime (in its own thread) talks through it:

    with FaultProxy(("127.0.0.1", server_port)) as proxy:
        url = f"opc.tcp://127.0.0.1:{proxy.port}/ebr/simulator"
        proxy.cut()        # a network cut: nothing passes, nothing is closed
        proxy.restore()    # traffic flows again (cut connections are dropped, as routers do)
        proxy.stall()      # bytes are held, not lost; ``restore()`` delivers them
        proxy.delay(0.05)  # every chunk waits 50 ms
        proxy.slow(2000)   # at most 2000 bytes/s per direction
        proxy.reset()      # every connection gets a TCP RST now

What a cut means here: packets are dropped silently (no FIN, no RST), as when a
switch or a cable fails; the client only finds out through its own probe. New
connections during a cut are accepted and blackholed too (SYNs of a real cut would
time out: same effect for the client, no answer).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from dataclasses import dataclass, field
from typing import Any

CHUNK = 65536


@dataclass
class _Link:
    client: asyncio.StreamWriter
    server: asyncio.StreamWriter
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    blackholed: bool = False


class FaultProxy:
    """Forwards ``127.0.0.1:port`` → ``upstream``, with faults switched on and off from any thread."""

    def __init__(self, upstream: tuple[str, int], *, port: int = 0) -> None:
        self.upstream = upstream
        self._requested_port = port
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._links: list[_Link] = []
        self._cut = False
        self._flowing = asyncio.Event()
        self._delay_s = 0.0
        self._bytes_per_s: float | None = None
        self.connections = 0

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._thread.start()
        self._call(self._start())
        return self

    async def _start(self) -> None:
        self._flowing.set()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self._requested_port)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _stop(self) -> None:
        self._flowing.set()
        if self._server is not None:
            self._server.close()
        links = list(self._links)
        tasks = [t for link in links for t in link.tasks]
        for link in links:
            self._close(link, abort=True)
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        # transport.abort() closes its socket in a callback on a later turn of the loop: let those
        # run before the loop stops, or the sockets are left to the garbage collector (an
        # "unclosed socket" ResourceWarning that fails whichever test runs next on the worker).
        for _ in range(3):
            await asyncio.sleep(0)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    # -- faults (thread-safe) ----------------------------------------------------------------

    def cut(self) -> None:
        """Drop every byte in both directions from now on; connections stay open (no FIN, no RST)."""
        self._call(self._set_cut(True))

    def restore(self) -> None:
        """End a cut, stall, delay or slow link: connections opened during or before a cut are dropped."""
        self._call(self._restore())

    def stall(self) -> None:
        """Hold every byte (delivered on ``restore``)."""
        self._loop.call_soon_threadsafe(self._flowing.clear)

    def delay(self, seconds: float) -> None:
        """Add ``seconds`` of latency to every chunk in both directions (0: none)."""
        self._delay_s = seconds

    def slow(self, bytes_per_second: float | None) -> None:
        """Trickle at most ``bytes_per_second`` per direction (None: full speed)."""
        self._bytes_per_s = bytes_per_second

    def reset(self) -> None:
        """Send a TCP RST on every open connection (a firewall or a crashed peer)."""
        self._call(self._reset())

    async def _set_cut(self, on: bool) -> None:
        self._cut = on
        if on:
            for link in self._links:
                link.blackholed = True

    async def _restore(self) -> None:
        self._cut = False
        self._delay_s = 0.0
        self._bytes_per_s = None
        self._flowing.set()
        for link in [lk for lk in self._links if lk.blackholed]:
            # After a real cut, the peers' TCP state no longer matches: the session is gone.
            self._close(link, abort=True)

    async def _reset(self) -> None:
        for link in list(self._links):
            self._close(link, abort=True)

    # -- forwarding ---------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            _abort(writer)
            return
        link = _Link(writer, up_writer, blackholed=self._cut)
        self._links.append(link)
        link.tasks = [
            asyncio.create_task(self._pump(link, reader, up_writer)),
            asyncio.create_task(self._pump(link, up_reader, writer)),
        ]

    async def _pump(self, link: _Link, source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
        try:
            while True:
                data = await source.read(CHUNK)
                if not data:
                    break
                if link.blackholed:
                    continue  # a cut: the bytes are lost
                await self._flowing.wait()
                if self._delay_s:
                    await asyncio.sleep(self._delay_s)
                await self._send(target, data)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            if not link.blackholed:
                self._close(link, abort=False)

    async def _send(self, target: asyncio.StreamWriter, data: bytes) -> None:
        rate = self._bytes_per_s
        if rate is None:
            target.write(data)
            await target.drain()
            return
        step = max(1, int(rate / 50))
        for i in range(0, len(data), step):
            target.write(data[i : i + step])
            await target.drain()
            await asyncio.sleep(step / rate)

    def _close(self, link: _Link, *, abort: bool) -> None:
        if link in self._links:
            self._links.remove(link)
        for writer in (link.client, link.server):
            if abort:
                _abort(writer)
            else:
                with contextlib.suppress(OSError, RuntimeError):
                    writer.close()
        current = asyncio.current_task()
        for task in link.tasks:
            if task is not current:
                task.cancel()


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with SO_LINGER 0: the peer sees a TCP RST."""
    sock = writer.get_extra_info("socket")
    with contextlib.suppress(OSError):
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
