"""A lean Redis client for the online read path: one multiplexed connection, replies matched to requests
in order (FIFO), so concurrent requests pipeline over one socket without a pool.

Why not redis-py here: its asyncio client spends ~150 µs user + ~100 µs system CPU per command (pool
get/release, an `asyncio.timeout` per read, the retry wrapper, its observability recorder, a
`StreamReader`), where the read path sends one EVALSHA per request. This connection is an
`asyncio.Protocol`: a command is packed by hiredis (`pack_command`), written at once, and answered by
a future resolved in `data_received`, where hiredis's `Reader` parses the replies. Per command that is
one future and one write, no task switch beyond the caller's own await (numbers in docs/features.md).

What it does:
- Built from the platform's Redis URL (`redis://`, `rediss://`, `unix://`, user/password and db in it,
  `ssl_*` options in the query as redis-py reads them), parsed with redis-py's `parse_url`.
- Connects lazily on first use, sends AUTH/SELECT as the URL asks (RESP2, no HELLO); concurrent first
  calls share one attempt. A call after a failure opens a new connection.
- Timeouts: connect (handshake included) and per command, 2 s each by default like the platform's
  redis-py client (`socket_connect_timeout` / `socket_timeout` in the URL override them). The command
  timeout costs nothing per call: one watchdog timer per connection checks that the oldest pending
  request has seen progress within the timeout; when it has not, or the connection is lost, every
  pending call fails and the connection is dropped.
- Every failure is `Unavailable(component="redis")` (a 503 naming Redis). An error reply raises
  `RedisReplyError` (also a 503 naming Redis, as redis-py's errors were on this path); the connection
  stays usable. `Script` runs Lua by EVALSHA and loads the script on NOSCRIPT (Redis restarted, SCRIPT
  FLUSH) and retries once.

What it is not: a general client. No blocking commands longer than the command timeout, no pub/sub or
MONITOR (their replies are not answers to requests), no Cluster, no RESP3.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

import hiredis

from mlplatform.kernel.errors import Unavailable

if TYPE_CHECKING:
    from redis.asyncio.connection import RedisSSLContext

COMPONENT = "redis"
DEFAULT_TIMEOUT = 2.0
"""Seconds, for connecting and for each command: the platform's redis-py client uses the same."""

Arg = bytes | str | int | float | memoryview
"""What `hiredis.pack_command` packs (numbers are sent as their decimal text)."""

_pack = cast("Callable[[tuple[Arg, ...]], bytes]", hiredis.pack_command)  # its stub says a 1-tuple

_NOT_READY = object()
"""What `hiredis.Reader.gets` returns while no complete reply is buffered."""


class RedisReplyError(Unavailable):
    """Redis answered a command with an error reply (`-ERR ...`, `-NOSCRIPT ...`, `-WRONGTYPE ...`).

    A 503 naming Redis for the route; `code` is the error's first word (`ERR`, `NOSCRIPT` ...),
    `message` Redis's whole text."""

    def __init__(self, message: str) -> None:
        super().__init__(f"Redis answered with an error: {message}", component=COMPONENT)
        self.message = message
        self.code = message.split(" ", 1)[0]


class _Many:
    """The pending replies of one `execute_many`: its future resolves once all `count` have arrived."""

    __slots__ = ("count", "future", "replies")

    def __init__(self, future: asyncio.Future[Any], count: int) -> None:
        self.future = future
        self.count = count
        self.replies: list[Any] = []


class _Connection(asyncio.Protocol):
    """One socket to Redis; requests and replies are matched in order."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float, where: str) -> None:
        self.loop = loop
        self.closed = False
        """Set once the connection cannot carry another command (lost, timed out, closed)."""
        self._timeout = timeout
        self._where = where
        self._reader = hiredis.Reader(notEnoughData=_NOT_READY)
        self._pending: deque[asyncio.Future[Any] | _Many] = deque()
        self._transport: asyncio.Transport | None = None
        self._progress = 0.0
        """loop.time() of the last reply bytes, or of the send that made the pending queue non-empty."""
        self._watchdog: asyncio.TimerHandle | None = None
        self._lost: asyncio.Future[None] = loop.create_future()

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it

    def data_received(self, data: bytes) -> None:
        self._progress = self.loop.time()
        reader = self._reader
        pending = self._pending
        reader.feed(data)
        while True:
            try:
                reply = reader.gets()
            except hiredis.ProtocolError as exc:
                self._fail(f"sent a reply that cannot be parsed ({exc})")
                return
            if reply is _NOT_READY:
                return
            if not pending:
                self._fail("sent a reply nobody asked for")
                return
            waiter = pending[0]
            if isinstance(waiter, _Many):
                waiter.replies.append(reply)
                if len(waiter.replies) < waiter.count:
                    continue
                reply = waiter.replies
                waiter = waiter.future
            pending.popleft()
            if not waiter.done():  # a cancelled caller: its reply is consumed all the same
                waiter.set_result(reply)

    def eof_received(self) -> bool | None:
        self._fail("closed the connection")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail("closed the connection" if exc is None else f"connection was lost ({exc})")
        if not self._lost.done():
            self._lost.set_result(None)

    # requests

    def send(self, data: bytes) -> asyncio.Future[Any]:
        """Write one packed command; the future resolves to its reply."""
        future = self.loop.create_future()
        self._enqueue(future)
        self._transport.write(data)  # type: ignore[union-attr]  # set before the connection is handed out
        return future

    def send_many(self, data: bytes, count: int) -> asyncio.Future[Any]:
        """Write `count` packed commands at once; the future resolves to the list of their replies."""
        future = self.loop.create_future()
        self._enqueue(_Many(future, count))
        self._transport.write(data)  # type: ignore[union-attr]
        return future

    def _enqueue(self, waiter: asyncio.Future[Any] | _Many) -> None:
        if self.closed:  # lost between the caller's check and now
            raise Unavailable(f"Redis at {self._where} closed the connection", component=COMPONENT)
        if not self._pending:
            self._progress = self.loop.time()
            if self._watchdog is None:
                self._watchdog = self.loop.call_at(self._progress + self._timeout, self._check)
        self._pending.append(waiter)

    def _check(self) -> None:
        """The watchdog: fail everything pending when the oldest request has seen no progress in time.

        An event loop blocked past the deadline (a long synchronous call) is not taken for a silent Redis:
        asyncio and uvloop both read ready sockets before they run due timers, so a reply that arrived
        meanwhile counts as progress first (tested under uvloop)."""
        self._watchdog = None
        if self.closed or not self._pending:
            return  # re-armed by the next request
        deadline = self._progress + self._timeout
        if self.loop.time() < deadline:
            self._watchdog = self.loop.call_at(deadline, self._check)
        else:
            self._fail(f"did not answer within {self._timeout:g} s")

    # shutting down

    def _fail(self, reason: str) -> None:
        """Fail every pending request with `Unavailable` and drop the socket (idempotent)."""
        self.closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        pending, self._pending = self._pending, deque()
        for waiter in pending:
            future = waiter.future if isinstance(waiter, _Many) else waiter
            if not future.done():
                future.set_exception(Unavailable(f"Redis at {self._where} {reason}", component=COMPONENT))
        if self._transport is not None and not self._transport.is_closing():
            self._transport.abort()

    async def close(self, wait: float) -> None:
        """Close gracefully (pending requests fail) and wait up to `wait` seconds for the socket to close."""
        if self._transport is not None and not self._transport.is_closing():
            self.closed = True
            self._transport.close()
        self._fail("connection was closed by the client")
        if self._transport is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._lost), wait)
            except TimeoutError:
                self._transport.abort()


class RespClient:
    """One lazily opened, multiplexed connection to the Redis of `url` (see the module docstring)."""

    def __init__(self, url: str, *, connect_timeout: float | None = None, command_timeout: float | None = None):
        from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection, parse_url

        options: dict[str, Any] = dict(parse_url(url))
        kind = options.get("connection_class")
        self._path: str | None = None
        self._host = str(options.get("host", "localhost"))
        self._port = int(options.get("port", 6379))
        self._tls: RedisSSLContext | None = None
        if kind is not None and issubclass(kind, UnixDomainSocketConnection):
            self._path = str(options.get("path", ""))
            if not self._path:
                raise ValueError("a unix:// Redis URL needs a socket path")
            self.where = self._path
        else:
            if kind is not None and issubclass(kind, SSLConnection):
                self._tls = _tls(options)
            self.where = f"{self._host}:{self._port}"
        self._connect_timeout = _timeout(connect_timeout, options.get("socket_connect_timeout"))
        self._command_timeout = _timeout(command_timeout, options.get("socket_timeout"))
        self._handshake = _handshake(options)
        self._conn: _Connection | None = None
        self._connecting: asyncio.Task[_Connection] | None = None
        self._closed = False

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.closed

    async def execute(self, *args: Arg) -> Any:
        """Send one command and return its reply (bytes, int, None, list ...); an error reply raises
        `RedisReplyError`, a connection failure or timeout `Unavailable`."""
        conn = self._conn
        if conn is None or conn.closed:
            conn = await self._connection()
        reply = await conn.send(_pack(args))
        if type(reply) is hiredis.ReplyError:
            raise RedisReplyError(str(reply))
        return reply

    async def execute_many(self, commands: Sequence[Sequence[Arg]], *, raise_errors: bool = True) -> list[Any]:
        """Send several commands in one write and return their replies in order. An error reply raises
        `RedisReplyError` once all replies are in; with `raise_errors=False` it takes its place in the
        list as a `RedisReplyError` instance instead."""
        if not commands:
            return []
        conn = self._conn
        if conn is None or conn.closed:
            conn = await self._connection()
        pack = _pack
        data = b"".join([pack(tuple(command)) for command in commands])
        replies: list[Any] = await conn.send_many(data, len(commands))
        for index, reply in enumerate(replies):
            if type(reply) is hiredis.ReplyError:
                error = RedisReplyError(str(reply))
                if raise_errors:
                    raise error
                replies[index] = error
        return replies

    async def aclose(self) -> None:
        """Close the connection; calls made afterwards fail with `Unavailable`."""
        self._closed = True
        if self._connecting is not None:
            self._connecting.cancel()
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close(self._command_timeout)

    # connecting

    async def _connection(self) -> _Connection:
        """The open connection, after opening one (one attempt shared by concurrent callers)."""
        if self._closed:
            raise Unavailable("the Redis client of the online store is closed", component=COMPONENT)
        task = self._connecting
        if task is None:
            task = asyncio.get_running_loop().create_task(self._open())
            self._connecting = task
            task.add_done_callback(self._opened)
        return await asyncio.shield(task)

    def _opened(self, task: asyncio.Task[_Connection]) -> None:
        self._connecting = None
        if task.cancelled() or task.exception() is not None:
            return  # the callers got the error; the next call tries again
        conn = task.result()
        if self._closed:
            conn._fail("connection was closed by the client")
        else:
            self._conn = conn

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        conn = _Connection(loop, self._command_timeout, self.where)
        try:
            async with asyncio.timeout(self._connect_timeout):
                if self._path is not None:
                    await loop.create_unix_connection(lambda: conn, self._path)
                else:
                    tls = None if self._tls is None else self._tls.get()  # built once, cached by redis-py
                    await loop.create_connection(lambda: conn, self._host, self._port, ssl=tls)
                if self._handshake:
                    packed = b"".join(_pack(command) for command in self._handshake)
                    replies = await conn.send_many(packed, len(self._handshake))
        except TimeoutError:
            conn._fail("connection was abandoned")
            raise Unavailable(
                f"Redis at {self.where} did not accept a connection within {self._connect_timeout:g} s",
                component=COMPONENT,
            ) from None
        except OSError as exc:
            conn._fail("connection was abandoned")
            raise Unavailable(f"Redis at {self.where} is unreachable: {exc}", component=COMPONENT) from exc
        except BaseException:
            conn._fail("connection was abandoned")
            raise
        if self._handshake:
            for reply in replies:
                if type(reply) is hiredis.ReplyError:
                    conn._fail("refused the connection")
                    raise Unavailable(f"Redis at {self.where} refused the connection: {reply}", component=COMPONENT)
        return conn


class Script:
    """A Lua script run by EVALSHA; on NOSCRIPT (Redis restarted, SCRIPT FLUSH) it is loaded and the call
    retried once. The object does not depend on a client or a server: keep one per script."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def __call__(self, client: RespClient, keys: Sequence[Arg] = (), args: Sequence[Arg] = ()) -> Any:
        command = ("EVALSHA", self.sha, len(keys), *keys, *args)
        try:
            return await client.execute(*command)
        except RedisReplyError as exc:
            if exc.code != "NOSCRIPT":
                raise
        await client.execute("SCRIPT", "LOAD", self.source)
        return await client.execute(*command)

    async def many(self, client: RespClient, calls: Sequence[tuple[Sequence[Arg], Sequence[Arg]]]) -> list[Any]:
        """Several calls, `(keys, args)` each, in one write; replies in order. Only the calls that met
        NOSCRIPT are sent again (after one SCRIPT LOAD), so none runs twice."""
        commands = [("EVALSHA", self.sha, len(keys), *keys, *args) for keys, args in calls]
        replies = await client.execute_many(commands, raise_errors=False)
        missing = [
            i for i, reply in enumerate(replies) if isinstance(reply, RedisReplyError) and reply.code == "NOSCRIPT"
        ]
        if missing:
            await client.execute("SCRIPT", "LOAD", self.source)
            again = await client.execute_many([commands[i] for i in missing], raise_errors=False)
            for index, reply in zip(missing, again, strict=True):
                replies[index] = reply
        for reply in replies:
            if isinstance(reply, RedisReplyError):
                raise reply
        return replies


def _timeout(explicit: float | None, from_url: Any) -> float:
    if explicit is not None:
        return explicit
    if from_url is not None:
        return float(from_url)
    return DEFAULT_TIMEOUT


def _handshake(options: dict[str, Any]) -> list[tuple[Arg, ...]]:
    """AUTH (with the username when the URL has one) and SELECT, as the URL asks."""
    commands: list[tuple[Arg, ...]] = []
    password = options.get("password")
    username = options.get("username")
    if password is not None:
        commands.append(("AUTH", username, password) if username else ("AUTH", password))
    elif username:
        raise ValueError("a Redis URL with a username needs a password")
    db = int(options.get("db") or 0)
    if db:
        commands.append(("SELECT", db))
    return commands


def _tls(options: dict[str, Any]) -> RedisSSLContext:
    """The TLS settings redis-py would use for the same URL (`ssl_cert_reqs`, `ssl_ca_certs`,
    `ssl_check_hostname` ... from the query; certificates and host names are verified by default). The
    context itself is built on first connect: a missing certificate file is then a 503, not a failed start."""
    from redis.asyncio.connection import RedisSSLContext
    from redis.exceptions import RedisError

    params = {name.removeprefix("ssl_"): value for name, value in options.items() if name.startswith("ssl_")}
    params.setdefault("cert_reqs", "required")
    params.setdefault("check_hostname", True)
    try:
        return RedisSSLContext(**params)
    except (TypeError, RedisError) as exc:
        raise ValueError(f"unsupported TLS option in the Redis URL: {exc}") from None
