"""Dialling a daemon: over a real socket to a URL, or to one started in this process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial

import httpx
import trio
from trio_websocket import open_websocket_url

from .config import Config
from .dial import DialOptions, DialResult, Utterance, dial
from .engines import factory
from .engines.base import Engines
from .server import serve_app
from .socket import TrioWebSocket


async def dial_url(url: str, utterances: Sequence[Utterance], opts: DialOptions) -> DialResult:
    async with open_websocket_url(url) as ws:
        return await dial(TrioWebSocket(ws), utterances, opts)


@asynccontextmanager
async def local_daemon(cfg: Config, engines: Engines | None = None) -> AsyncIterator[str]:
    """A daemon on a free loopback port for the duration; yields its media socket URL."""
    shutdown = trio.Event()
    async with httpx.AsyncClient() as http, trio.open_nursery() as nursery:
        if engines is None:
            engines = factory.build(cfg, http)
            await factory.warm(engines, cfg)
        binds = await nursery.start(partial(serve_app, cfg, engines, shutdown, port=0))
        host_port = binds[0].split("://", 1)[1]
        try:
            yield f"ws://{host_port}{cfg.server.media_path}"
        finally:
            shutdown.set()


async def dial_in_process(
    cfg: Config, utterances: Sequence[Utterance], opts: DialOptions
) -> DialResult:
    async with local_daemon(cfg) as url:
        return await dial_url(url, utterances, opts)
