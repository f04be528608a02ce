"""A tiny CQL server for the pool's own unit tests, on the test process's hub.

Real sockets, the real protocol codecs (FrameCodec, ServerHandshake, messages), no CQL engine:
the full simulated cluster lives in greencql.testing; this one exists so the connection can be
tested by itself, with faults scripted per test. Queries it understands (QUERY text):

- ``USE ks``                  -> SET_KEYSPACE (``USE nope`` -> InvalidRequest)
- ``echo TAG``                -> ROWS with one row (TAG,)
- ``sleep SECONDS TAG``       -> the same row, answered after SECONDS (others are not held up)
- ``hold TAG``                -> the same row, answered once the test calls ``release(TAG)``
- ``error TAG``               -> an InvalidRequest ERROR naming TAG
- ``garbage``                 -> a frame whose body does not decode (only that request fails)
- ``corrupt``                 -> (v5) the answer's segment with a broken CRC32
- ``event``                   -> a STATUS_CHANGE event on stream -1, then ``echo event``

Server-wide switches: ``paused`` (read nothing, answer nothing), ``byte_by_byte`` (every reply
written one byte per send), ``max_version``, ``credentials``, ``tls`` (an SSLContext).

Tests wait on what the server saw, never on the clock: ``wait_for_request(pred)`` (a request
received), ``wait_until(check)`` (any condition on ``requests``, ``heartbeats`` or
``late_replies``, re-checked on each change, no polling).
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable
from typing import Any

from greencql.protocol import types as T
from greencql.protocol.compression import get_compressor
from greencql.protocol.frames import FrameCodec, decode_header
from greencql.protocol.handshake import (
    EnableCompression,
    HandshakeState,
    SendResponse,
    ServerHandshake,
    StartSegments,
    negotiate_server_version,
)
from greencql.protocol.messages import (
    ErrorResponse,
    Options,
    Query,
    RowsResult,
    SetKeyspaceResult,
    StatusChangeEvent,
    decode_request,
    encode_response,
)
from greencql.protocol.rows import ColumnSpec, ResultMetadata

__all__ = ["MiniServer", "COLUMNS"]

COLUMNS = (ColumnSpec("ks", "t", "v", T.TEXT),)
_METADATA = ResultMetadata.of(COLUMNS)


class MiniServer:
    def __init__(
        self,
        hub: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_version: int = 5,
        credentials: dict[str, str] | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.hub = hub
        self.max_version = max_version
        self.credentials = credentials
        self.tls = tls
        self.byte_by_byte = False
        self.paused = False
        self._resume = hub.event()
        self._resume.set()
        self.host, self.port = host, port
        self.connections: list[socket.socket] = []
        self.accepted = 0
        self.requests: list[Any] = []  # every request decoded after the handshake
        self.startups: list[dict[str, str]] = []
        self.versions: list[int] = []  # the version each connection finished its handshake in
        self.heartbeats = 0  # OPTIONS received after the handshake
        self.late_replies: list[str] = []  # tags of ``sleep``/``hold`` answers, once written
        self._held: dict[str, Any] = {}  # hold TAG -> the event release(TAG) sets
        # waiters of wait_until: (check, event); the lock is held for list work only
        self._watch_lock = threading.Lock()
        self._watchers: list[tuple[Callable[[], bool], Any]] = []
        self._tasks: list[Any] = []
        self._closed = False
        self.start()

    def start(self) -> None:
        """Listen (again, on the same port after a stop)."""
        self._closed = False
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((self.host, self.port))
        self.listener.listen(128)
        self.host, self.port = self.listener.getsockname()
        self._tasks.append(self.hub.spawn(self._accept_loop))

    def stop(self) -> None:
        """Stop listening and drop every connection (a node going down)."""
        self._closed = True
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept()
        except OSError:
            pass
        try:
            self.listener.close()
        except OSError:
            pass
        self.drop_all()

    # -- control -----------------------------------------------------------------------

    def pause(self) -> None:
        self.paused = True
        self._resume.clear()

    def resume(self) -> None:
        self.paused = False
        self._resume.set()

    def release(self, tag: str) -> None:
        """Let the answer to ``hold TAG`` go (also when it has not arrived yet)."""
        self._hold_event(tag).set()

    def wait_until(self, check: Callable[[], bool], timeout: float = 5.0) -> None:
        """Return once ``check()`` (about this server's state) is true; it is re-checked
        whenever a request, a heartbeat or a late answer is recorded. AssertionError after
        ``timeout`` seconds."""
        event = self.hub.event()
        with self._watch_lock:
            if check():
                return
            self._watchers.append((check, event))
        if not event.wait(timeout):
            with self._watch_lock:
                self._watchers = [w for w in self._watchers if w[1] is not event]
            if not check():
                raise AssertionError(f"mini server: condition not met within {timeout} s")

    def wait_for_request(self, predicate: Callable[[Any], bool], timeout: float = 5.0) -> Any:
        """The first request received (after the handshake) matching ``predicate``,
        waiting up to ``timeout`` seconds for it."""
        found: list[Any] = []

        def check() -> bool:
            found[:] = [r for r in self.requests if predicate(r)][:1]
            return bool(found)

        self.wait_until(check, timeout)
        return found[0]

    def wait_for_query(self, text: str, timeout: float = 5.0) -> Any:
        """The QUERY whose text is ``text`` (see :meth:`wait_for_request`)."""
        return self.wait_for_request(lambda r: getattr(r, "query", None) == text, timeout)

    def _changed(self) -> None:
        with self._watch_lock:
            fired = [w for w in self._watchers if w[0]()]
            if fired:
                self._watchers = [w for w in self._watchers if w not in fired]
        for _, event in fired:
            event.set()

    def _hold_event(self, tag: str) -> Any:
        with self._watch_lock:
            event = self._held.get(tag)
            if event is None:
                event = self._held[tag] = self.hub.event()
        return event

    def drop_all(self) -> None:
        for conn in list(self.connections):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        self.connections.clear()

    def forget_in_child(self) -> None:
        """In a forked child: stop serving without touching the parent's sockets."""
        from greencql.pool.forksafety import neutralize_fd

        self._closed = True
        for sock in [self.listener, *self.connections]:
            try:
                neutralize_fd(sock.fileno())
            except (OSError, ValueError):
                pass

    def close(self) -> None:
        self._closed = True
        self._resume.set()
        with self._watch_lock:
            held = list(self._held.values())
        for event in held:  # held answers are dropped, their tasks end
            event.set()
        try:
            self.listener.close()
        except OSError:
            pass
        self.drop_all()
        for task in self._tasks:
            task.kill()

    def __enter__(self) -> MiniServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- serving -------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            self.connections.append(conn)
            self._tasks.append(self.hub.spawn(self._serve, conn))

    def _send(self, conn: socket.socket, lock: Any, data: bytes) -> None:
        with lock:
            if self.byte_by_byte:
                for i in range(len(data)):
                    conn.sendall(data[i : i + 1])
            else:
                conn.sendall(data)

    def _serve(self, conn: socket.socket) -> None:
        lock = threading.Lock() if self.hub.name == "thread" else _NullLock()
        if self.tls is not None:
            raw = conn
            try:
                conn = self.tls.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
                self.connections.append(conn)
                conn.do_handshake()
            except (OSError, ssl.SSLError):
                conn.close()
                raw.close()
                return
        try:
            self._serve_inner(conn, lock)
        except (OSError, ValueError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _serve_inner(self, conn: socket.socket, lock: Any) -> None:
        first = b""
        while len(first) < 9:
            chunk = conn.recv(9 - len(first))
            if not chunk:
                return
            first += chunk
        requested = first[0] & 0x7F
        supported = [v for v in (3, 4, 5) if v <= self.max_version]
        version, error = negotiate_server_version(requested, supported)
        codec = FrameCodec("server", version, negotiating=False)
        if error is not None:
            header = decode_header(first, is_response=False)
            flags, body = encode_response(error, version)
            self._send(conn, lock, codec.encode(header.stream, error.opcode, body, flags))
            return
        handshake = ServerHandshake(
            version,
            credentials=self.credentials,
            protocol_versions=tuple(f"{v}/v{v}" for v in supported),
        )
        pending = first
        while True:
            self._resume.wait()
            if pending:
                data, pending = pending, b""
            else:
                data = conn.recv(65536)
            if not data:
                return
            if self.paused:
                self._resume.wait()
            for frame in codec.feed(data):
                request = decode_request(frame.opcode, frame.body, version, frame.flags)
                if handshake.state is not HandshakeState.READY or isinstance(request, Options):
                    self._handshake_step(conn, lock, codec, handshake, frame.stream, request)
                    continue
                self.requests.append(request)
                self._changed()
                self._answer(conn, lock, codec, version, frame.stream, request)

    def _handshake_step(self, conn, lock, codec, handshake, stream, request) -> None:
        heartbeat = handshake.state is HandshakeState.READY and isinstance(request, Options)
        if getattr(request, "options", None) is not None and hasattr(request, "options"):
            if isinstance(request.options, dict) and "CQL_VERSION" in request.options:
                self.startups.append(dict(request.options))
        for out in handshake.receive(request):
            if isinstance(out, SendResponse):
                flags, body = encode_response(out.message, handshake.version)
                self._send(conn, lock, codec.encode(stream, out.message.opcode, body, flags))
            elif isinstance(out, EnableCompression):
                codec.compressor = get_compressor(out.name)
            elif isinstance(out, StartSegments):
                codec.start_segments(get_compressor(out.compression) if out.compression else None)
        if handshake.state is HandshakeState.READY and not isinstance(request, Options):
            self.versions.append(handshake.version)
        if heartbeat:  # counted once answered
            self.heartbeats += 1
            self._changed()

    def _answer(self, conn, lock, codec, version, stream, request) -> None:
        if not isinstance(request, Query):
            self._reply(conn, lock, codec, version, stream, ErrorResponse(0x2200, "unsupported"))
            return
        words = request.query.split()
        verb = words[0].lower() if words else ""
        if verb == "use":
            ks = words[1].strip('"')
            reply: Any = (
                ErrorResponse(0x2200, f"Keyspace '{ks}' does not exist")
                if ks == "nope"
                else SetKeyspaceResult(ks)
            )
        elif verb == "echo":
            reply = RowsResult(_METADATA, [(words[1],)])
        elif verb == "sleep":
            delay, tag = float(words[1]), words[2]
            self._tasks.append(
                self.hub.spawn(self._later, delay, conn, lock, codec, version, stream, tag)
            )
            return
        elif verb == "hold":
            tag = words[1]
            self._tasks.append(
                self.hub.spawn(self._held_reply, conn, lock, codec, version, stream, tag)
            )
            return
        elif verb == "error":
            reply = ErrorResponse(0x2200, f"bad {words[1]}")
        elif verb == "garbage":
            # a RESULT frame whose body is one byte: the frame is fine, its body is not
            self._send(conn, lock, codec.encode(stream, 0x08, b"\x00", 0))
            return
        elif verb == "corrupt":
            flags, body = encode_response(RowsResult(_METADATA, [("x",)]), version)
            data = bytearray(codec.encode(stream, 0x08, body, flags))
            data[-1] ^= 0xFF  # the last byte of a segment is its payload CRC32
            self._send(conn, lock, bytes(data))
            return
        elif verb == "event":
            flags, body = encode_response(StatusChangeEvent("UP", ("127.0.0.9", 9042)), version)
            self._send(conn, lock, codec.encode(-1, 0x0C, body, flags))
            reply = RowsResult(_METADATA, [("event",)])
        else:
            reply = ErrorResponse(0x2000, f"line 1:0 no viable alternative at input {verb!r}")
        self._reply(conn, lock, codec, version, stream, reply)

    def _later(self, delay, conn, lock, codec, version, stream, tag) -> None:
        self.hub.sleep(delay)  # the behaviour of ``sleep``: a slow answer
        self._late_reply(conn, lock, codec, version, stream, tag)

    def _held_reply(self, conn, lock, codec, version, stream, tag) -> None:
        self._hold_event(tag).wait()
        if not self._closed:
            self._late_reply(conn, lock, codec, version, stream, tag)

    def _late_reply(self, conn, lock, codec, version, stream, tag) -> None:
        try:
            self._reply(conn, lock, codec, version, stream, RowsResult(_METADATA, [(tag,)]))
        except OSError:
            return
        self.late_replies.append(tag)
        self._changed()

    def _reply(self, conn, lock, codec, version, stream, reply) -> None:
        flags, body = encode_response(reply, version)
        self._send(conn, lock, codec.encode(stream, reply.opcode, body, flags))


class _NullLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
