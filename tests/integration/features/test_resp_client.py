"""The online read path's Redis connection (`adapters/online_store/resp_client.py`) against real Redis
servers: the shared test server on its own db (11, emptied after each test) and, for AUTH, TLS and unix
sockets, a private `redis-server` started by this module."""

from __future__ import annotations

import asyncio
import datetime
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import uvloop
from redis.asyncio import Redis

from mlplatform.kernel.errors import Unavailable
from mlplatform.modules.features.adapters.online_store.read_path import READ_SCRIPT, Batch
from mlplatform.modules.features.adapters.online_store.resp_client import RedisReplyError, RespClient, Script
from tests.support.wait import wait_until, wait_until_async

DB = 11
"""No other test uses this db; it is emptied after each test here."""


@pytest.fixture(scope="module")
def url(redis_url: str) -> str:
    parts = urlsplit(redis_url)
    return parts._replace(path=f"/{DB}").geturl()


@pytest.fixture
async def admin(url: str) -> AsyncIterator[Redis]:
    """A redis-py client on the same db, to look at what the client did (and to kill its connection)."""
    client = Redis.from_url(url)
    yield client
    await client.flushdb()
    await client.aclose()


@pytest.fixture
async def client(url: str, admin: Redis) -> AsyncIterator[RespClient]:
    resp = RespClient(url)
    yield resp
    await resp.aclose()


async def _client_id(client: RespClient) -> int:
    reply: int = await client.execute("CLIENT", "ID")
    return reply


async def _disconnected(client: RespClient) -> None:
    async def noticed() -> bool:
        return not client.connected

    await wait_until_async(noticed, timeout=1, interval=0.01, message="the client noticing its connection closed")


async def _blocked(admin: Redis, client_id: int) -> None:
    """Until the connection `client_id` is blocked in a BLPOP: the command has reached Redis."""

    async def blocked() -> bool:
        (info,) = await admin.client_list(client_id=[client_id])
        return bool(info["cmd"] == "blpop")

    await wait_until_async(blocked, timeout=5, interval=0.01, message=f"client {client_id} blocked in BLPOP")


# replies and pipelining


async def test_replies_of_each_type(client: RespClient) -> None:
    assert not client.connected  # lazy: nothing opened before the first call
    assert await client.execute("PING") == b"PONG"  # simple string
    assert client.connected
    assert await client.execute("SET", "k", b"a\r\nb\x00c") == b"OK"
    assert await client.execute("GET", "k") == b"a\r\nb\x00c"  # binary-safe bulk string
    assert await client.execute("GET", "missing") is None  # null bulk string
    assert await client.execute("INCRBY", "n", 41) == 41  # integer
    assert await client.execute("INCRBYFLOAT", "f", 1.5) == b"1.5"  # floats travel as text
    assert await client.execute("HSET", "h", "a", 1, "b", "") == 2
    assert await client.execute("HMGET", "h", "a", "b", "c") == [b"1", b"", None]  # array with a null
    assert await client.execute("LRANGE", "nothing", 0, -1) == []  # empty array
    nested = await client.execute("EVAL", "return {1, {'x', {2}}, 'y'}", 0)
    assert nested == [1, [b"x", [2]], b"y"]
    big = b"v" * 3_000_000  # arrives in many reads: the reply is assembled across them
    await client.execute("SET", "big", big)
    assert await client.execute("GET", "big") == big


async def test_error_reply_raises_and_the_connection_stays_usable(client: RespClient) -> None:
    await client.execute("SET", "s", "text")
    before = await _client_id(client)
    with pytest.raises(RedisReplyError) as caught:
        await client.execute("INCR", "s")
    assert caught.value.code == "ERR"
    assert "not an integer" in caught.value.message
    assert caught.value.status_code == 503
    assert caught.value.component == "redis"
    with pytest.raises(RedisReplyError) as wrong_type:
        await client.execute("LPUSH", "s", "x")
    assert wrong_type.value.code == "WRONGTYPE"
    assert await client.execute("GET", "s") == b"text"
    assert await _client_id(client) == before


async def test_concurrent_calls_share_one_connection_and_keep_their_replies(client: RespClient) -> None:
    first = await _client_id(client)
    replies = await asyncio.gather(*(client.execute("ECHO", f"call-{i}") for i in range(2000)))
    assert replies == [f"call-{i}".encode() for i in range(2000)]
    counts = await asyncio.gather(*(client.execute("INCR", "counter") for _ in range(500)))
    assert sorted(counts) == list(range(1, 501))
    assert await _client_id(client) == first


async def test_execute_many_sends_commands_together_and_answers_in_order(client: RespClient) -> None:
    replies = await client.execute_many(
        [("SET", "a", 1), ("INCR", "a"), ("GET", "a"), ("HMGET", "none", "x"), ("PING",)]
    )
    assert replies == [b"OK", 2, b"2", [None], b"PONG"]
    assert await client.execute_many([]) == []
    await client.execute("SET", "text", "x")
    with pytest.raises(RedisReplyError) as caught:
        await client.execute_many([("GET", "a"), ("INCR", "text"), ("GET", "a")])
    assert caught.value.code == "ERR"
    # every reply of the failed batch was consumed: the next call gets its own
    assert await client.execute("ECHO", "next") == b"next"
    mixed = await client.execute_many([("GET", "a"), ("INCR", "text")], raise_errors=False)
    assert mixed[0] == b"2"
    assert isinstance(mixed[1], RedisReplyError)
    # concurrent batches and single calls interleave without mixing replies
    batches = await asyncio.gather(
        *(client.execute_many([("ECHO", f"{i}-a"), ("ECHO", f"{i}-b")]) for i in range(200)),
        *(client.execute("ECHO", f"single-{i}") for i in range(200)),
    )
    assert batches[:200] == [[f"{i}-a".encode(), f"{i}-b".encode()] for i in range(200)]
    assert batches[200:] == [f"single-{i}".encode() for i in range(200)]


async def test_a_cancelled_call_does_not_shift_the_replies(client: RespClient, admin: Redis) -> None:
    """Redis answers a connection's commands in order: the blocked BLPOP holds back the ECHO behind it.
    Its caller gives up; its reply, when it comes, is dropped, and ECHO still gets its own."""
    waiting = asyncio.create_task(client.execute("BLPOP", "queue", 1))
    await _blocked(admin, await _client_id(client))
    echo = asyncio.create_task(client.execute("ECHO", "mine"))
    await asyncio.sleep(0)  # the task runs up to its await: ECHO is written behind the BLPOP
    waiting.cancel()
    await admin.rpush("queue", "item")  # type: ignore[misc]
    assert await echo == b"mine"
    assert waiting.cancelled()
    assert await client.execute("LLEN", "queue") == 0  # the BLPOP did run: its reply was dropped


# scripts


async def test_script_is_loaded_on_noscript_after_script_flush(client: RespClient, admin: Redis) -> None:
    script = Script(f"-- {uuid.uuid4().hex}\nreturn {{ARGV[1], redis.call('GET', KEYS[1])}}")
    await client.execute("SET", "key", "value")
    assert await client.execute("SCRIPT", "EXISTS", script.sha) == [0]
    assert await script(client, keys=["key"], args=["first"]) == [b"first", b"value"]  # NOSCRIPT -> LOAD
    assert await client.execute("SCRIPT", "EXISTS", script.sha) == [1]
    await admin.script_flush()  # what a Redis restart does too
    assert await script(client, keys=["key"], args=["again"]) == [b"again", b"value"]
    await admin.script_flush()
    many = await script.many(client, [(["key"], ["a"]), (["missing"], ["b"])])
    assert many == [[b"a", b"value"], [b"b", None]]


async def test_script_errors_are_not_retried(client: RespClient) -> None:
    failing = Script("return redis.call('INCR', KEYS[1])")
    await client.execute("SET", "word", "abc")
    with pytest.raises(RedisReplyError) as caught:
        await failing(client, keys=["word"])
    assert caught.value.code == "ERR"
    with pytest.raises(RedisReplyError):
        await failing.many(client, [(["fresh"], ()), (["word"], ())])
    assert await client.execute("GET", "fresh") == b"1"  # the first call ran once


async def test_the_read_script_through_the_client(client: RespClient) -> None:
    """READ_SCRIPT as the online path calls it: keys are prefix + encoded entity value + suffix."""
    value = b"\x04\x00\x00\x00\x08\x00\x00\x00" + (1001).to_bytes(8, "little")
    other = b"\x04\x00\x00\x00\x08\x00\x00\x00" + (1002).to_bytes(8, "little")
    await client.execute("HSET", b"P" + value + b"S", b"f1", b"one", b"_ts", b"t")
    batch = Batch(b"P", b"S", 1, value + other, (b"f1", b"f2", b"_ts"))
    assert await Script(READ_SCRIPT)(client, args=batch.args()) == [[b"one", None, b"t"], [None, None, None]]


# failures


async def test_reconnects_after_the_server_closes_the_connection(client: RespClient, admin: Redis) -> None:
    first = await _client_id(client)
    await admin.execute_command("CLIENT", "KILL", "ID", first)
    await _disconnected(client)  # noticed at once: the connection is always being read
    assert await client.execute("PING") == b"PONG"
    second = await _client_id(client)
    assert second != first
    # a call waiting when the connection is killed fails at once, and the next one reconnects
    waiting = asyncio.create_task(client.execute("BLPOP", "never", 5))
    await _blocked(admin, second)
    started = time.monotonic()
    await admin.execute_command("CLIENT", "KILL", "ID", second)
    with pytest.raises(Unavailable) as caught:
        await waiting
    assert time.monotonic() - started < 1
    assert caught.value.component == "redis"
    assert "closed the connection" in caught.value.detail
    assert await client.execute("ECHO", "back") == b"back"
    assert await _client_id(client) not in {first, second}


async def test_a_command_without_answer_times_out(url: str, admin: Redis) -> None:
    """BLPOP blocks this connection only (CLIENT PAUSE or DEBUG SLEEP would stop the shared server). The
    command timeout comes from the URL (`socket_timeout`, as redis-py reads it): 0.2 s instead of the
    default 2 s, so the test waits a tenth of the time."""
    client = RespClient(f"{url}?socket_timeout=0.2")
    try:
        first = await _client_id(client)
        blocked = asyncio.create_task(client.execute("BLPOP", "never", 1))
        behind = asyncio.create_task(client.execute("PING"))
        with pytest.raises(Unavailable) as caught:
            await blocked
        assert caught.value.component == "redis"
        assert "did not answer within 0.2 s" in caught.value.detail
        with pytest.raises(Unavailable):
            await behind  # everything pending on the dropped connection fails with it
        assert await client.execute("PING") == b"PONG"  # the next call reconnects
        assert await _client_id(client) != first
    finally:
        await client.aclose()


def test_a_blocked_event_loop_is_not_a_timeout_under_uvloop(url: str) -> None:
    """The loop is blocked (a long synchronous call) past the command timeout while the reply arrives: the
    watchdog must not take that for a silent Redis. It relies on the loop reading ready sockets before it
    runs due timers, which asyncio does, and uvloop (the server's loop) as of 0.23 / libuv 1.52."""

    async def scenario() -> tuple[bytes, bytes]:
        resp = RespClient(url, command_timeout=0.2)
        try:
            await resp.execute("PING")
            first = asyncio.ensure_future(resp.execute("ECHO", "late"))
            await asyncio.sleep(0)  # the command is sent (uvloop queues the write until the loop goes on)
            time.sleep(0.3)  # the loop is blocked past the 0.2 s timeout: the subject of the test, not a wait
            return await first, await resp.execute("ECHO", "after")
        finally:
            await resp.aclose()

    with ThreadPoolExecutor(1) as thread:  # a loop of its own, away from the tests' loop
        assert thread.submit(uvloop.run, scenario()).result() == (b"late", b"after")


async def test_connection_refused_is_unavailable_naming_redis() -> None:
    resp = RespClient("redis://127.0.0.1:1/0")
    started = time.monotonic()
    results = await asyncio.gather(*(resp.execute("PING") for _ in range(10)), return_exceptions=True)
    assert time.monotonic() - started < 1
    assert all(isinstance(result, Unavailable) for result in results), results
    error = results[0]
    assert isinstance(error, Unavailable)
    assert error.component == "redis"
    assert error.status_code == 503
    assert "127.0.0.1:1" in error.detail
    with pytest.raises(Unavailable):  # tried again on the next call
        await resp.execute_many([("PING",)])
    await resp.aclose()


async def test_a_server_that_never_answers_times_out_on_connect() -> None:
    """A socket that accepts and stays silent: the handshake (SELECT) never completes. The URL's
    `socket_connect_timeout` overrides the 2 s default, as it does for redis-py."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    port = silent.getsockname()[1]
    try:
        resp = RespClient(f"redis://127.0.0.1:{port}/4?socket_connect_timeout=0.2")
        with pytest.raises(Unavailable) as caught:  # the message names the timeout the attempt was given
            await resp.execute("PING")
        assert caught.value.component == "redis"
        assert "did not accept a connection within 0.2 s" in caught.value.detail
        await resp.aclose()
    finally:
        silent.close()


async def test_closed_client_fails_pending_and_later_calls(client: RespClient, admin: Redis) -> None:
    waiting = asyncio.create_task(client.execute("BLPOP", "never", 5))
    await _blocked(admin, await _client_id(client))
    await client.aclose()
    with pytest.raises(Unavailable):
        await waiting
    with pytest.raises(Unavailable) as caught:
        await client.execute("PING")
    assert "closed" in caught.value.detail


async def test_db_from_the_url_is_selected(client: RespClient, admin: Redis) -> None:
    info = await client.execute("CLIENT", "INFO")
    assert f" db={DB} " in info.decode()
    await client.execute("SET", "where", "here")
    assert await admin.get("where") == b"here"


def test_bad_urls_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="scheme"):
        RespClient("http://127.0.0.1:6379/0")
    with pytest.raises(ValueError, match="TLS option"):
        RespClient("rediss://127.0.0.1:6379/0?ssl_cert_reqs=sometimes")


# AUTH, TLS and unix sockets: a private server


@dataclass
class PrivateServer:
    port: int
    tls_port: int
    socket: Path
    ca: Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for localhost / 127.0.0.1 signed by it."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def build(
        subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, signer: ec.EllipticCurvePrivateKey, ca: bool
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca_cert = build("test CA", ca_key, ca_name, ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = build("localhost", server_key, ca_name, ca_key, ca=False)
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca_file, cert_file, key_file


@pytest.fixture(scope="module")
def private_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (needed for the AUTH / TLS / unix socket tests)")
    folder = tmp_path_factory.mktemp("private-redis")
    ca, cert, key = _certificates(folder)
    port, tls_port = _free_port(), _free_port()
    path = folder / "redis.sock"
    command = [
        binary,
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--tls-port", str(tls_port),
        "--tls-cert-file", str(cert),
        "--tls-key-file", str(key),
        "--tls-ca-cert-file", str(ca),
        "--tls-auth-clients", "no",
        "--unixsocket", str(path),
        "--unixsocketperm", "700",
        "--requirepass", "topsecret",
        "--user", "alice", "on", ">wonderland", "~*", "&*", "+@all",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(folder),
    ]  # fmt: skip
    log = (folder / "redis.log").open("wb")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:

        def ready() -> bool:
            if server.poll() is not None:
                pytest.fail(f"the private redis-server exited: {(folder / 'redis.log').read_text()}")
            return b"Ready to accept connections" in (folder / "redis.log").read_bytes()

        wait_until(ready, timeout=10, message=lambda: f"the private redis-server: {(folder / 'redis.log').read_text()}")
        yield PrivateServer(port=port, tls_port=tls_port, socket=path, ca=ca)
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


async def _who(resp: RespClient) -> str:
    info: bytes = await resp.execute("CLIENT", "INFO")
    fields = dict(part.split("=", 1) for part in info.decode().split() if "=" in part)
    return f"{fields['user']} db={fields['db']}"


async def _unreachable(url: str) -> Unavailable:
    """The failure of a PING through a client of `url` that cannot get through (a 503 naming Redis)."""
    resp = RespClient(url)
    try:
        with pytest.raises(Unavailable) as caught:
            await resp.execute("PING")
    finally:
        await resp.aclose()
    assert caught.value.component == "redis"
    return caught.value


async def test_password_and_user_from_the_url(private_server: PrivateServer) -> None:
    port = private_server.port
    default_user = RespClient(f"redis://:topsecret@127.0.0.1:{port}/2")
    named_user = RespClient(f"redis://alice:wonderland@127.0.0.1:{port}/3")
    try:
        assert await _who(default_user) == "default db=2"
        assert await _who(named_user) == "alice db=3"
    finally:
        await default_user.aclose()
        await named_user.aclose()
    wrong = await _unreachable(f"redis://alice:nope@127.0.0.1:{port}/0")
    assert "refused the connection: WRONGPASS" in wrong.detail
    assert "nope" not in wrong.detail
    anonymous = RespClient(f"redis://127.0.0.1:{port}/0")
    with pytest.raises(RedisReplyError) as noauth:
        await anonymous.execute("PING")
    assert noauth.value.code == "NOAUTH"
    await anonymous.aclose()


async def test_tls_verifies_the_server_certificate(private_server: PrivateServer) -> None:
    port, ca = private_server.tls_port, private_server.ca
    trusted = RespClient(f"rediss://alice:wonderland@localhost:{port}/5?ssl_ca_certs={ca}")
    try:
        assert await _who(trusted) == "alice db=5"
        replies = await asyncio.gather(*(trusted.execute("ECHO", str(i)) for i in range(300)))
        assert replies == [str(i).encode() for i in range(300)]
    finally:
        await trusted.aclose()
    untrusted = await _unreachable(f"rediss://alice:wonderland@localhost:{port}/5")  # no CA: the system store
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.detail
    unchecked = RespClient(f"rediss://:topsecret@127.0.0.1:{port}/0?ssl_cert_reqs=none")
    assert await unchecked.execute("PING") == b"PONG"
    await unchecked.aclose()


async def test_unix_socket(private_server: PrivateServer) -> None:
    resp = RespClient(f"unix://alice:wonderland@{private_server.socket}?db=6")
    try:
        assert await _who(resp) == "alice db=6"
        assert await resp.execute("ECHO", "over a unix socket") == b"over a unix socket"
    finally:
        await resp.aclose()
    await _unreachable(f"unix://{private_server.socket}.missing")
