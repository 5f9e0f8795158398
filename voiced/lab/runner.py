"""Dialling a daemon: over a real socket to a URL, or to one started in this process."""

from __future__ import annotations

import dataclasses
import functools
import os
import secrets
import ssl
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial

import httpx
import trio
from trio_websocket import open_websocket_url

from ..build import build_engines, warm_engines
from ..config import Config
from ..engines.base import Engines
from ..loopwatch import LoopWatch, settle_heap
from ..metrics import Metrics
from ..records import CallRecords
from ..server import serve_app
from ..twilio.signature import HEADER, sign
from ..twilio.socket import TrioWebSocket
from ..workers import Supervisor
from .dial import (
    TEST_ACCOUNT_SID,
    DialOptions,
    DialResult,
    Utterance,
    dial,
    new_call_sid,
    stream_parameters,
    voice_form,
)


class LineBusy(Exception):
    """The voice webhook answered with something other than a stream (busy, refused)."""


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every call an emulator places: a new client's own loads the CA
    bundle, 21 ms of CPU each, most of a core in the second that forty calls arrive."""
    return ssl.create_default_context()


async def place_call(voice_url: str, opts: DialOptions) -> DialOptions:
    """What Twilio does when a call comes in: POST the voice webhook (signed for
    ``opts.signed_voice_url`` when ``opts.auth_token`` is set) and read the ``<Stream>`` it
    answers; ``opts`` for that call comes back. Raises :class:`LineBusy` when there is no
    stream to connect."""
    call_sid = opts.call_sid or new_call_sid()
    account_sid = opts.account_sid or TEST_ACCOUNT_SID
    form = voice_form(call_sid, account_sid, opts.caller)
    headers = {}
    if opts.auth_token:
        headers[HEADER] = sign(opts.auth_token, opts.signed_voice_url or voice_url, form)
    async with httpx.AsyncClient(timeout=10.0, verify=_tls()) as http:
        resp = await http.post(voice_url, data=form, headers=headers)
    params = stream_parameters(resp.text) if resp.status_code == 200 else None
    if params is None:
        raise LineBusy(f"voice webhook answered HTTP {resp.status_code} without a stream")
    return dataclasses.replace(opts, call_sid=call_sid, account_sid=account_sid, parameters=params)


def http_base_for(media_url: str) -> str:
    """The daemon's HTTP origin beside its media socket URL (``ws://h:p/...`` -> ``http://h:p``)."""
    scheme, rest = media_url.split("://", 1)
    return f"{'https' if scheme == 'wss' else 'http'}://{rest.split('/', 1)[0]}"


def voice_url_for(media_url: str, voice_path: str = "/twilio/voice") -> str:
    """The daemon's voice webhook beside its media socket URL."""
    return http_base_for(media_url) + voice_path


async def dial_url(url: str, utterances: Sequence[Utterance], opts: DialOptions) -> DialResult:
    """A whole call as Twilio makes one: the voice webhook first (unless ``opts`` already
    holds its answer), then the media stream to ``url``."""
    if not opts.parameters:
        opts = await place_call(voice_url_for(url, opts.voice_path), opts)
    headers: list[tuple[bytes, bytes]] = []
    if opts.auth_token:
        signature = sign(opts.auth_token, opts.signed_url or url)
        headers.append((HEADER.encode(), signature.encode()))
    async with open_websocket_url(url, extra_headers=headers) as ws:
        return await dial(TrioWebSocket(ws), utterances, opts)


def signed_options(cfg: Config, opts: DialOptions, auth_token: str) -> DialOptions:
    """``opts`` signing as Twilio would for this config's public URL."""
    url = f"wss://{cfg.server.media_host}{cfg.server.media_path}"
    voice = f"https://{cfg.server.public_host}{cfg.server.voice_path}"
    return dataclasses.replace(opts, auth_token=auth_token, signed_url=url, signed_voice_url=voice,
                               voice_path=cfg.server.voice_path,
                               account_sid=opts.account_sid or cfg.twilio.account_sid)


@asynccontextmanager
async def local_daemon(cfg: Config, engines: Engines | None = None,
                       auth_token: str | None = None,
                       records: CallRecords | None = None,
                       metrics: Metrics | None = None,
                       loop: LoopWatch | None = None) -> AsyncIterator[str]:
    """A daemon on a free loopback port for the duration; yields its media socket URL.
    ``loop`` watches its event loop's lateness."""
    shutdown = trio.Event()
    async with httpx.AsyncClient() as http, trio.open_nursery() as nursery:
        if engines is None:
            engines = build_engines(cfg, http)
            await warm_engines(engines, cfg)
        settle_heap()  # as `voiced serve` does once its engines are warm
        binds = await nursery.start(partial(serve_app, cfg, engines, shutdown, port=0,
                                            auth_token=auth_token, records=records,
                                            metrics=metrics, loop=loop))
        host_port = binds[0].split("://", 1)[1]
        try:
            yield f"ws://{host_port}{cfg.server.media_path}"
        finally:
            shutdown.set()


@asynccontextmanager
async def local_workers(cfg: Config, workers: int,
                        auth_token: str) -> AsyncIterator[tuple[str, Supervisor]]:
    """``workers`` daemon processes under a supervisor (as `voiced serve` runs them with
    ``server.workers``) on a free loopback port; yields the media socket URL and the
    supervisor (its workers' pids, for their CPU). The engines come from ``cfg``."""
    os.environ[cfg.twilio.auth_token_env] = auth_token  # the workers read it, as in production
    cfg = dataclasses.replace(cfg, server=dataclasses.replace(cfg.server, host="127.0.0.1",
                                                              port=0, workers=workers))
    sup = Supervisor(cfg, workers)
    await trio.to_thread.run_sync(sup.start)
    watcher = threading.Thread(target=sup.run, name="voiced-supervisor")
    watcher.start()
    try:
        yield f"ws://127.0.0.1:{sup.port}{cfg.server.media_path}", sup
    finally:
        sup.stop()
        await trio.to_thread.run_sync(watcher.join)


async def dial_in_process(
    cfg: Config, utterances: Sequence[Utterance], opts: DialOptions
) -> DialResult:
    """A call to a daemon of our own, which checks signatures as in production: a token made up
    for the occasion signs the handshake."""
    token = secrets.token_urlsafe(24)
    records = CallRecords(cfg.server.records_dir())  # `voiced calls last` shows this call
    async with local_daemon(cfg, auth_token=token, records=records) as url:
        return await dial_url(url, utterances, signed_options(cfg, opts, token))
