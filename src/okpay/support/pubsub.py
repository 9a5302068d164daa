"""Fan-out of live-chat events to the WebSockets that follow them.

Events are small JSON objects published on a named channel ("chat:12", "queue"). Every app
process keeps one :class:`Hub` with the sockets it serves; :func:`publish` reaches the hubs:

- without ``OKPAY_REDIS_URL``, directly, in this process (``okpay serve`` with one worker,
  tests): each subscriber has an asyncio queue that is fed on its own event loop;
- with ``OKPAY_REDIS_URL``, through Redis pub/sub, so a message typed on a socket served by
  one app process reaches sockets served by another (several uvicorn workers, or a separate
  ``okpay worker`` that times chats out). Each hub holds one Redis connection subscribed to
  every chat channel while it has sockets, and hands events to its local subscribers.

:func:`publish` is synchronous and thread-safe: services call it from after-commit hooks
(db.on_commit), which run in the worker thread of the request or job.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import redis
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from okpay.db import on_commit
from okpay.settings import get_settings

log = logging.getLogger(__name__)

Event = dict[str, Any]
# A subscriber that falls this far behind (a stalled socket) loses events, not memory.
QUEUE_LIMIT = 500


def redis_prefix(url: str, namespace: str = "okpay") -> str:
    """Pub/sub channels ignore Redis database numbers; put the number in the name (after the
    installation's namespace) so that installations or test runs never mix."""
    db = (urlsplit(url).path or "/0").strip("/") or "0"
    return f"{namespace}:{db}:chat:"


@dataclass(eq=False)
class _Subscriber:
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[tuple[str, Event]]
    channels: frozenset[str]

    def put(self, item: tuple[str, Event]) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            log.warning("chat subscriber is %s events behind; dropping one", QUEUE_LIMIT)


class Hub:
    """The subscriptions of one app process. Subclasses decide where events come from."""

    def __init__(self) -> None:
        self._subscribers: set[_Subscriber] = set()
        self._lock = threading.Lock()
        # Held while the event source starts or stops, so that the two never interleave.
        self._source_lock = threading.Lock()

    @asynccontextmanager
    async def subscribe(self, *channels: str) -> AsyncIterator[asyncio.Queue[tuple[str, Event]]]:
        """Receive ``(channel, event)`` for each event on ``channels`` while inside the block."""
        loop = asyncio.get_running_loop()
        sub = _Subscriber(loop, asyncio.Queue(QUEUE_LIMIT), frozenset(channels))
        with self._lock:
            self._subscribers.add(sub)
        try:
            await run_in_threadpool(self._source_needed)
            yield sub.queue
        finally:
            with self._lock:
                self._subscribers.discard(sub)
            await run_in_threadpool(self._source_maybe_idle)

    def deliver(self, channel: str, event: Event) -> None:
        """Hand an event to this process's subscribers of ``channel`` (from any thread)."""
        with self._lock:
            targets = [s for s in self._subscribers if channel in s.channels]
        for sub in targets:
            # RuntimeError: that socket's event loop has already closed.
            with contextlib.suppress(RuntimeError):
                sub.loop.call_soon_threadsafe(sub.put, (channel, event))

    def _source_needed(self) -> None:
        with self._source_lock:
            self._start()

    def _source_maybe_idle(self) -> None:
        with self._source_lock:
            with self._lock:
                idle = not self._subscribers
            if idle:
                self._stop()

    def _start(self) -> None:
        """Make sure events arrive (called in a thread, with the source lock held)."""

    def _stop(self) -> None:
        """Nobody listens any more (called with the source lock held)."""


_local_hubs: weakref.WeakSet[LocalHub] = weakref.WeakSet()


class LocalHub(Hub):
    """Events published in this process only."""

    def __init__(self) -> None:
        super().__init__()
        _local_hubs.add(self)


class RedisHub(Hub):
    """Events from Redis pub/sub, read by a thread while the hub has subscribers."""

    def __init__(self, url: str, namespace: str = "okpay") -> None:
        super().__init__()
        self.url = url
        self.prefix = redis_prefix(url, namespace)
        self._stopping: threading.Event | None = None

    def _start(self) -> None:
        if self._stopping is not None:
            return  # already listening
        stopping = threading.Event()
        client = redis.Redis.from_url(self.url)
        listener = client.pubsub(ignore_subscribe_messages=False)
        listener.psubscribe(f"{self.prefix}*")
        # Wait for Redis to confirm, so that nothing published after subscribe() is missed.
        confirmed = listener.get_message(timeout=5.0)
        if not confirmed or confirmed.get("type") != "psubscribe":
            log.warning("chat fan-out: Redis did not confirm the subscription: %r", confirmed)
        self._stopping = stopping
        threading.Thread(
            target=self._listen, args=(listener, client, stopping), name="chat-fanout", daemon=True
        ).start()

    def _stop(self) -> None:
        if self._stopping is not None:
            self._stopping.set()
            self._stopping = None

    def _listen(self, listener: Any, client: redis.Redis, stopping: threading.Event) -> None:
        try:
            while not stopping.is_set():
                try:
                    message = listener.get_message(ignore_subscribe_messages=True, timeout=0.5)
                except redis.RedisError:
                    log.exception("chat fan-out: Redis connection lost; retrying")
                    stopping.wait(1.0)
                    continue
                if not message or message.get("type") != "pmessage":
                    continue
                channel = message["channel"].decode()[len(self.prefix) :]
                try:
                    event = json.loads(message["data"])
                except ValueError:
                    continue
                self.deliver(channel, event)
        finally:
            listener.close()
            client.close()


def make_hub() -> Hub:
    """A hub for the configured fan-out (Redis when OKPAY_REDIS_URL is set)."""
    settings = get_settings()
    url = settings.redis_url
    return RedisHub(url, settings.redis_namespace) if url else LocalHub()


_publishers: dict[str, redis.Redis] = {}


def publish(channel: str, event: Event) -> None:
    """Send ``event`` to every socket following ``channel``, in any app process."""
    settings = get_settings()
    url = settings.redis_url
    if url:
        client = _publishers.get(url)
        if client is None:
            client = _publishers[url] = redis.Redis.from_url(url)
        client.publish(redis_prefix(url, settings.redis_namespace) + channel, json.dumps(event))
        return
    for hub in list(_local_hubs):
        hub.deliver(channel, event)


def publish_on_commit(session: Session, channel: str, event: Event) -> None:
    """Publish once the unit of work has committed (nothing is announced that was not stored)."""

    def send() -> None:
        try:
            publish(channel, event)
        except redis.RedisError:
            log.exception("chat fan-out: could not publish on %s", channel)

    on_commit(session, send)
