"""A loopback HTTP server for the demo's "second machine": static files with Range support."""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path

__all__ = ["StaticServer"]


class StaticServer:
    """Serves a directory read-only on ``127.0.0.1`` from a thread (aiohttp, ranged reads)."""

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory)
        self.port = _free_port()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="demo-http", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def __enter__(self) -> StaticServer:
        self._thread.start()
        if not self._ready.wait(20) or self._error is not None:
            raise RuntimeError(f"the demo's HTTP server did not start: {self._error}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        from aiohttp import web

        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            app = web.Application()
            app.router.add_static("/", self.directory, show_index=False, follow_symlinks=False)
            runner = web.AppRunner(app, access_log=None)
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        except BaseException as exc:  # reported by __enter__
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
