"""Dialling a daemon: over a real socket to a URL, or to one started in this process."""

from __future__ import annotations

import dataclasses
import secrets
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
from .metrics import Metrics
from .records import CallRecords
from .server import serve_app
from .signature import HEADER, sign
from .socket import TrioWebSocket


async def dial_url(url: str, utterances: Sequence[Utterance], opts: DialOptions) -> DialResult:
    headers: list[tuple[bytes, bytes]] = []
    if opts.auth_token:
        signature = sign(opts.auth_token, opts.signed_url or url)
        headers.append((HEADER.encode(), signature.encode()))
    async with open_websocket_url(url, extra_headers=headers) as ws:
        return await dial(TrioWebSocket(ws), utterances, opts)


def signed_options(cfg: Config, opts: DialOptions, auth_token: str) -> DialOptions:
    """``opts`` signing as Twilio would for this config's public URL."""
    url = f"wss://{cfg.server.public_host}{cfg.server.media_path}"
    return dataclasses.replace(opts, auth_token=auth_token, signed_url=url)


@asynccontextmanager
async def local_daemon(cfg: Config, engines: Engines | None = None,
                       auth_token: str | None = None,
                       records: CallRecords | None = None,
                       metrics: Metrics | None = None) -> AsyncIterator[str]:
    """A daemon on a free loopback port for the duration; yields its media socket URL."""
    shutdown = trio.Event()
    async with httpx.AsyncClient() as http, trio.open_nursery() as nursery:
        if engines is None:
            engines = factory.build(cfg, http)
            await factory.warm(engines, cfg)
        binds = await nursery.start(partial(serve_app, cfg, engines, shutdown, port=0,
                                            auth_token=auth_token, records=records,
                                            metrics=metrics))
        host_port = binds[0].split("://", 1)[1]
        try:
            yield f"ws://{host_port}{cfg.server.media_path}"
        finally:
            shutdown.set()


async def dial_in_process(
    cfg: Config, utterances: Sequence[Utterance], opts: DialOptions
) -> DialResult:
    """A call to a daemon of our own, which checks signatures as in production: a token made up
    for the occasion signs the handshake."""
    token = secrets.token_urlsafe(24)
    records = CallRecords(cfg.server.records_dir())  # `voiced calls last` shows this call
    async with local_daemon(cfg, auth_token=token, records=records) as url:
        return await dial_url(url, utterances, signed_options(cfg, opts, token))
