"""A TCP proxy in front of a real server (the dev cluster, PostgreSQL) that can be told to misbehave.

Modes: ``pass`` forwards both ways; ``hang`` forwards nothing in either direction and never closes (a hung
server); ``blackhole`` forwards requests but drops every answer (the server acts, the client never hears);
``refuse`` closes new and open connections at once (a server that is down); ``drop-writes`` forwards reads but
swallows every request that changes something (POST, PUT, PATCH, DELETE) and all that follows on its connection,
answering nothing (a write lost on its way: the server never acts, the client never hears); ``lose-write-answers``
forwards everything but drops the answers on a connection once it carried such a write (the server acts on the
write, the client never hears; reads still work). It runs in a thread of its own, so
the test's own event loop is free.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Iterator

from tests.support.processes import free_port

WRITES = (b"POST ", b"PUT ", b"PATCH ", b"DELETE ")


class FaultyProxy:
    def __init__(
        self,
        target_host: str,
        target_port: int,
        source_host: str | None = None,
        listen_host: str = "127.0.0.1",
        upstream_tls: ssl.SSLContext | None = None,
    ) -> None:
        self.target = (target_host, target_port)
        self.upstream_tls = upstream_tls
        """TLS to the server (a real kube-apiserver) while clients speak plain HTTP to the proxy, so that the
        write-only modes can see which requests are writes."""
        self.source = (source_host, 0) if source_host else None
        """The address the proxy connects from (a trusted proxy's, say); None: the system's choice."""
        self.host = listen_host
        """The address the proxy listens on."""
        self.port = free_port() if listen_host == "127.0.0.1" else 0
        """The port it listens on (for another address than loopback, known once started)."""
        self.mode = "pass"
        self._loop = asyncio.new_event_loop()
        self._writers: set[asyncio.StreamWriter] = set()
        self._ready = threading.Event()
        self._server: asyncio.Server
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._client, self.host, self.port))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    def set_mode(self, mode: str) -> None:
        assert mode in ("pass", "hang", "blackhole", "refuse", "drop-writes", "lose-write-answers")
        self.mode = mode
        if mode == "refuse":
            self._loop.call_soon_threadsafe(self._close_all)

    def _close_all(self) -> None:
        for writer in list(self._writers):
            writer.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "refuse":
            writer.close()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                *self.target, local_addr=self.source, ssl=self.upstream_tls
            )
        except OSError:
            writer.close()
            return
        self._writers.update({writer, upstream_writer})
        wrote: list[str] = []  # the write-only mode the connection carried a write in, once it has
        try:
            await asyncio.gather(
                self._pipe(reader, upstream_writer, answers=False, wrote=wrote),
                self._pipe(upstream_reader, writer, answers=True, wrote=wrote),
            )
        finally:
            for w in (writer, upstream_writer):
                self._writers.discard(w)
                w.close()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, answers: bool, wrote: list[str]
    ) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await reader.read(65536):
                if (
                    not answers
                    and data.startswith(WRITES)
                    and self.mode in ("drop-writes", "lose-write-answers")
                ):
                    wrote.append(self.mode)
                if wrote and (wrote[0] == "drop-writes" or answers):
                    continue
                while self.mode == "hang":  # noqa: ASYNC110 - the mode is flipped from another thread
                    await asyncio.sleep(0.05)
                if self.mode == "refuse":
                    return
                if answers and self.mode == "blackhole":
                    continue
                writer.write(data)
                await writer.drain()

    def start(self) -> FaultyProxy:
        self._thread.start()
        self._ready.wait(5)
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            self._server.close()
            writers = list(self._writers)
            self._close_all()
            tasks = [t for t in asyncio.all_tasks(self._loop) if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for writer in writers:
                with contextlib.suppress(OSError, ConnectionError):
                    await writer.wait_closed()
            await self._server.wait_closed()
            self._loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop)
        self._thread.join(5)


@contextlib.contextmanager
def faulty_proxy(
    target_host: str, target_port: int, upstream_tls: ssl.SSLContext | None = None
) -> Iterator[FaultyProxy]:
    proxy = FaultyProxy(target_host, target_port, upstream_tls=upstream_tls).start()
    try:
        yield proxy
    finally:
        proxy.stop()
