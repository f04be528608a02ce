"""One node of the simulated cluster: a real CQL server on a TCP listener.

Owns: :class:`SimNode` (the listener and the accept loop on the cluster's hub, the node's
prepared-statement ids, its request log and fault switches, stop/start/pause) and its
connections (one reader greenlet each, which decodes frames, runs the handshake machine of
``protocol.handshake``, hands QUERY / PREPARE / EXECUTE / BATCH to the shared engine and
encodes the answers; responses leave through one per-connection write queue, flushed by
whichever task finds it idle, so a burst of pipelined requests costs one ``sendall``).

What it must not do: parse CQL or keep data (the engine does), decide topology or tokens (the
cluster does), import gevent or eventlet (the hub provides the listening socket and the
server-side TLS; :func:`_socket_module` bridges the one gap left, adopting an existing file
descriptor as a cooperative socket, for the cluster's background thread).

Faithfulness notes: prepared statements are per node (a restarted node forgets them and
answers EXECUTE with Unprepared 0x2500 carrying the id, as Cassandra does); a too-high
protocol version gets Cassandra's ProtocolException in the node's highest version and the
connection closes after it; a paused node reads and logs requests but never answers them
(requests received while paused are never answered, even after resume); a stopped node
closes its client connections before its peers push STATUS_CHANGE DOWN, and (when someone
registered for that event) waits until each client has closed its end, as gossip's delay
lets real clients notice the close first.
"""

from __future__ import annotations

import hashlib
import logging
import socket as _stdsocket
import ssl
import struct
import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from greencql.errors import (
    ConnectionException,
    ProtocolError,
    ServerException,
    UnsupportedProtocolVersion,
)
from greencql.protocol.compression import get_compressor
from greencql.protocol.constants import HeaderFlag, Opcode, ResultKind, RowsFlag
from greencql.protocol.frames import FrameCodec
from greencql.protocol.handshake import (
    EnableCompression,
    HandshakeDone,
    SendResponse,
    ServerHandshake,
    StartSegments,
    negotiate_server_version,
)
from greencql.protocol.messages import (
    Batch,
    ErrorResponse,
    Event,
    Execute,
    Prepare,
    PreparedResult,
    Query,
    Ready,
    Register,
    RowsResult,
    SchemaChangeEvent,
    SchemaChangeResult,
    SetKeyspaceResult,
    decode_request,
    encode_response,
)
from greencql.protocol.rows import (
    ColumnSpec,
    PreparedMetadata,
    ResultMetadata,
    write_result_metadata,
)
from greencql.protocol.wire import Writer
from greencql.testing.faults import NodeFaults, Prime, error_response_fields
from greencql.testing.requestlog import RequestLog, RequestRecord

if TYPE_CHECKING:
    from greencql.testing.cluster import SimCluster

__all__ = ["SimNode", "SUPPORTED_PROTOCOL_VERSIONS", "CQL_VERSIONS"]

_log = logging.getLogger("greencql.testing")

#: what the nodes speak (Cassandra 4.0 without its v6 beta)
SUPPORTED_PROTOCOL_VERSIONS = (3, 4, 5)
#: CQL_VERSION in SUPPORTED, as system.local says
CQL_VERSIONS = ("3.4.5",)
_COMPRESSION = ("snappy", "lz4")
_RECV_SIZE = 256 * 1024
_RECV_MIN = 4096
_LISTEN_BACKLOG = 1024
#: a client that connects to a TLS node and does not finish its handshake within this long is
#: dropped (it would otherwise hold a reader task forever)
_TLS_HANDSHAKE_TIMEOUT = 10.0
#: stop() waits this long for the accept loop to close the listener (it takes microseconds)
_STOP_JOIN_TIMEOUT = 5.0
#: a stopping node's peers announce it DOWN once its clients have closed their ends of its
#: connections, or after this long (a client that does not read never notices the close)
_CLIENT_CLOSE_TIMEOUT = 2.0
_PROTOCOL_ERROR = 0x000A
_SERVER_ERROR = 0x0000
_HANDSHAKE_OPCODES = frozenset((Opcode.OPTIONS, Opcode.STARTUP, Opcode.AUTH_RESPONSE))
_RESULT = int(Opcode.RESULT)
_ERROR = int(Opcode.ERROR)
_EVENT = int(Opcode.EVENT)
_ROWS_KIND = struct.pack(">i", int(ResultKind.ROWS))
_VOID_BODY = struct.pack(">i", int(ResultKind.VOID))
_i32 = struct.Struct(">i")
_NULL = b"\xff\xff\xff\xff"
_NO_METADATA = int(RowsFlag.NO_METADATA)
_RESPONSE_NAMES = {
    "VoidResult": "VOID", "RowsResult": "ROWS", "SetKeyspaceResult": "SET_KEYSPACE",
    "PreparedResult": "PREPARED", "SchemaChangeResult": "SCHEMA_CHANGE", "Ready": "READY",
    "Supported": "SUPPORTED", "Authenticate": "AUTHENTICATE", "AuthSuccess": "AUTH_SUCCESS",
    "AuthChallenge": "AUTH_CHALLENGE",
}


# -- bridging the hub interface ----------------------------------------------------------------


def _socket_module(hub: Any) -> Any:
    """The socket module whose sockets cooperate with ``hub``.

    Only for ``socket(fileno=...)``: adopting an existing descriptor (the cluster thread's
    stop signal), which the Hub protocol does not offer. The adapters keep the green socket
    module they connect with, so take it from them (no gevent/eventlet import here). The
    thread hub uses the stdlib module as found at call time.
    """
    listen = getattr(hub, "socket_module", None)
    if listen is not None:
        return listen
    if hub.name == "thread":
        return _stdsocket
    adapter = sys.modules[type(hub).__module__]
    if hub.name == "gevent":
        return adapter.gevent.socket
    if hub.name == "eventlet":
        return adapter.eventlet.green.socket
    raise ValueError(f"no listening sockets for hub {hub.name!r}")


class _NoLock:
    """Green hubs never switch inside the write queue's critical sections: no lock needed."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_NO_LOCK = _NoLock()

# -- results to bytes --------------------------------------------------------------------------


class _Columns:
    """Engine column specs converted once for the wire: protocol specs, the v5 result
    metadata id, and the encoded metadata with and without columns."""

    __slots__ = ("metadata_id", "proto", "specs")

    def __init__(self, specs: tuple[Any, ...]) -> None:
        self.specs = specs
        self.proto = tuple(ColumnSpec(s.keyspace, s.table, s.name, s.type) for s in specs)
        digest = hashlib.md5(usedforsecurity=False)
        for s in specs:
            digest.update(f"{s.keyspace}.{s.table}.{s.name}:{s.coltype.cql_name};".encode())
        self.metadata_id = digest.digest()


_COLUMNS_CACHE: dict[int, _Columns] = {}
_COLUMNS_CACHE_SIZE = 4096


def _columns(specs: tuple[Any, ...]) -> _Columns:
    hit = _COLUMNS_CACHE.get(id(specs))
    if hit is not None and hit.specs is specs:
        return hit
    if len(_COLUMNS_CACHE) >= _COLUMNS_CACHE_SIZE:
        _COLUMNS_CACHE.clear()
    cols = _COLUMNS_CACHE[id(specs)] = _Columns(specs)
    return cols


def _rows_body(rows: Any, cols: _Columns, version: int, skip_metadata: bool,
               send_metadata_id: bool = False) -> bytes:
    """RESULT Rows, rows encoded by the engine's column types (sets in CQL order)."""
    w = Writer()
    buf = w.buf
    buf += _ROWS_KIND
    md_id = cols.metadata_id if send_metadata_id else None
    md = ResultMetadata.of(None if skip_metadata and md_id is None else cols.proto,
                           rows.paging_state, md_id, len(cols.proto))
    write_result_metadata(w, md, version)
    encoded = rows.encoded_rows()
    buf += _i32.pack(len(encoded))
    pack = _i32.pack
    for row in encoded:
        for cell in row:
            if cell is None:
                buf += _NULL
            else:
                buf += pack(len(cell))
                buf += cell
    return bytes(buf)


def _error(exc: ServerException, consistency: int | None = None,
           statement_id: bytes | None = None) -> ErrorResponse:
    return ErrorResponse(type(exc).error_code, exc.message,
                         error_response_fields(exc, consistency, statement_id))


# -- connections -------------------------------------------------------------------------------


class _Connection:
    """One client connection: a reader task, and a write queue flushed by whoever finds it
    idle (no writer task per connection: 1,000 idle connections cost 1,000 tasks, not 2,000)."""

    def __init__(self, node: SimNode, sock: Any, peer: Any, conn_id: int) -> None:
        self.node = node
        self.sock = sock
        self.peer = peer
        self.id = conn_id
        self.codec = FrameCodec("server", 0)  # version 0: negotiation stays open until we say
        self.handshake: ServerHandshake | None = None
        self.version = 0
        self.keyspace: str | None = None
        self.events: frozenset[str] = frozenset()
        self.ready = False
        self.closed = False
        #: the reader task (set by the accept loop)
        self.task: Any = None
        self._draining = False  # half-closed by stop(): read and drop until the client closes
        self._lock = threading.Lock() if node.hub.name == "thread" else _NO_LOCK
        self._pending: list[bytes] = []
        self._writing = False
        self._close_after_flush = False
        self._deferred: list[Any] = []

    def __repr__(self) -> str:
        return f"<connection {self.id} of {self.node.name} from {self.peer} v{self.version}>"

    # -- reading ---------------------------------------------------------------------------

    def run(self) -> None:
        try:
            if self.node._tls_context is not None:
                self._start_tls()
            recv = self.sock.recv
            feed = self.codec.feed
            # recv(n) allocates n bytes up front, and a thread blocked in it holds them: start
            # small (idle connections stay cheap) and grow while reads come back full
            size = _RECV_MIN
            while not self.closed or self._draining:
                data = recv(size)
                if not data:
                    break
                if self.closed:
                    continue  # half-closed: requests sent before the client saw EOF are dropped
                n = len(data)
                if n == size:
                    size = min(size * 4, _RECV_SIZE)
                elif n < size // 8 and size > _RECV_MIN:
                    size //= 2
                try:
                    frames = feed(data)
                except UnsupportedProtocolVersion as exc:
                    self._refuse_old_version(exc, data)
                    break
                except ProtocolError as exc:
                    self._protocol_error(0, str(exc))
                    break
                if frames:
                    self._process(frames)
        except (OSError, ValueError, EOFError, ConnectionException):
            # reset by the peer, shut down under us by stop() (eventlet: EOFError; a TLS
            # socket: ValueError), or a failed TLS handshake
            pass
        finally:
            self.close()
            try:
                self.sock.close()
            except (OSError, ValueError):
                pass

    def _start_tls(self) -> None:
        ctx = self.node._tls_context
        assert ctx is not None
        self.sock = self.node.hub.wrap_tls_server(self.sock, ctx, timeout=_TLS_HANDSHAKE_TIMEOUT)

    def _process(self, frames: list[Any]) -> None:
        out: list[tuple[Any, ...]] = []
        node = self.node
        for frame in frames:
            if self.closed:
                return
            if self.handshake is None:
                if not self._negotiate(frame):
                    return
            opcode = frame.opcode
            if opcode in _HANDSHAKE_OPCODES or not self.ready:
                if node.faults.paused:
                    self._log_dropped(frame)
                    continue
                self._handshake_step(frame, out)
            else:
                self._request(frame, out)
        if out:
            self._flush(out)
        if self._deferred:
            deferred, self._deferred = self._deferred, []
            for fn in deferred:
                fn()

    def _log_dropped(self, frame: Any) -> None:
        rec = RequestRecord(self.node.name, self.id, self.peer, frame.stream, frame.opcode,
                            frame.version, time.monotonic())
        rec.response = "DROPPED"
        self.node.log.append(rec)

    # -- handshake -------------------------------------------------------------------------

    def _negotiate(self, frame: Any) -> bool:
        allowed = self.node.protocol_versions()
        version, error = negotiate_server_version(frame.version, allowed)
        codec = self.codec
        codec.version = version
        codec.finish_negotiation()
        self.version = version
        if error is not None:
            rec = RequestRecord(self.node.name, self.id, self.peer, frame.stream, frame.opcode,
                                frame.version, time.monotonic())
            rec.response = f"ERROR 0x{_PROTOCOL_ERROR:04x}"
            self.node.log.append(rec)
            flags, body = encode_response(error, version)
            self._close_after_flush = True
            self._send(codec.encode(frame.stream, _ERROR, body, flags))
            return False
        auth = self.node.cluster.credentials
        self.handshake = ServerHandshake(
            version, credentials=auth, compression=_COMPRESSION, cql_versions=CQL_VERSIONS,
            protocol_versions=tuple(f"{v}/v{v}" for v in allowed))
        return True

    def _refuse_old_version(self, exc: UnsupportedProtocolVersion, data: bytes) -> None:
        """A v1/v2 client: answer in its own 8-byte header format, as Cassandra does."""
        v = exc.version or 1
        if self.handshake is not None or v >= 3 or len(data) < 3:
            self._protocol_error(0, str(exc))
            return
        w = Writer()
        w.write_int(_PROTOCOL_ERROR)
        allowed = ", ".join(f"{x}/v{x}" for x in self.node.protocol_versions())
        w.write_string(f"Invalid or unsupported protocol version ({v}); "
                       f"supported versions are ({allowed})")
        body = w.getvalue()
        header = struct.pack(">BBbBi", 0x80 | v, 0, struct.unpack(">b", data[2:3])[0],
                             _ERROR, len(body))
        self._close_after_flush = True
        self._send(header + body)

    def _handshake_step(self, frame: Any, out: list[tuple[Any, ...]]) -> None:
        rec = RequestRecord(self.node.name, self.id, self.peer, frame.stream, frame.opcode,
                            self.version, time.monotonic())
        self.node.log.append(rec)
        assert self.handshake is not None
        try:
            msg = decode_request(frame.opcode, frame.body, self.version, frame.flags)
        except ProtocolError as exc:
            rec.response = f"ERROR 0x{_PROTOCOL_ERROR:04x}"
            self._append_response(out, frame.stream, ErrorResponse(_PROTOCOL_ERROR, str(exc)))
            return
        outputs = self.handshake.receive(msg)
        if not outputs:  # a request that is not part of the handshake, before READY
            outputs = [SendResponse(ErrorResponse(
                _PROTOCOL_ERROR, f"Unexpected message {Opcode(frame.opcode).name}, "
                "expecting STARTUP or OPTIONS"))]
        codec = self.codec
        for o in outputs:
            if isinstance(o, SendResponse):
                m = o.message
                rec.response = (f"ERROR 0x{m.code:04x}" if isinstance(m, ErrorResponse)
                                else _RESPONSE_NAMES.get(type(m).__name__, type(m).__name__))
                self._append_response(out, frame.stream, m)
            elif isinstance(o, EnableCompression):
                self._flush(out)
                codec.compressor = get_compressor(o.name)
            elif isinstance(o, StartSegments):
                self._flush(out)
                codec.start_segments(get_compressor(o.compression) if o.compression else None)
            elif isinstance(o, HandshakeDone):
                self.ready = True

    def _append_response(self, out: list[tuple[Any, ...]], stream: int, msg: Any) -> None:
        flags, body = encode_response(msg, self.version)
        out.append((stream, msg.opcode, body, flags))

    def _protocol_error(self, stream: int, message: str) -> None:
        try:
            flags, body = encode_response(ErrorResponse(_PROTOCOL_ERROR, message),
                                          self.version or 4)
            self._close_after_flush = True
            self._send(self.codec.encode(stream, _ERROR, body, flags))
        except (ValueError, ProtocolError, OSError):
            pass

    # -- requests --------------------------------------------------------------------------

    def _request(self, frame: Any, out: list[tuple[Any, ...]]) -> None:
        node = self.node
        stream = frame.stream
        rec = RequestRecord(node.name, self.id, self.peer, stream, frame.opcode,
                            self.version, time.monotonic())
        rec._router = node
        try:
            msg = decode_request(frame.opcode, frame.body, self.version, frame.flags)
        except ProtocolError as exc:
            node.log.append(rec)
            rec.response = f"ERROR 0x{_PROTOCOL_ERROR:04x}"
            self._append_response(out, stream, ErrorResponse(_PROTOCOL_ERROR, str(exc)))
            return
        self._fill(rec, msg)
        rec.note_request(msg)
        node.log.append(rec)
        faults = node.faults
        if faults.paused:
            rec.response = "DROPPED"
            return
        delay = faults.latency
        prime = None
        if faults.primes:
            prime = faults.find_prime(rec.kind, rec.query)
            if prime is not None:
                if prime.delay:
                    delay += prime.delay
                if prime.drop:
                    rec.response = "DROPPED"
                    return
                if prime.close:
                    rec.response = "CLOSED"
                    self._flush(out)
                    self.close()
                    return
                item = self._primed(prime, msg, rec, stream)
                if item is not None:
                    self._emit(out, self._decorate(item, msg, rec, prime), delay)
                    return
        try:
            item = self._execute(msg, rec, stream)
        except ServerException as exc:
            code = type(exc).error_code
            rec.response = f"ERROR 0x{code:04x}"
            flags, body = encode_response(_error(exc, rec.consistency), self.version)
            item = (stream, _ERROR, body, flags)
        except Exception as exc:  # a bug in the engine must not kill the connection
            _log.exception("%s failed on %s", rec, node.name)
            rec.response = f"ERROR 0x{_SERVER_ERROR:04x}"
            flags, body = encode_response(
                ErrorResponse(_SERVER_ERROR, f"java.lang.RuntimeException: {exc!r}"),
                self.version)
            item = (stream, _ERROR, body, flags)
        self._emit(out, self._decorate(item, msg, rec, prime), delay)

    # -- tracing, client warnings, custom payloads (the response's body prefix) -----------

    def _decorate(self, item: tuple[Any, ...], msg: Any, rec: RequestRecord,
                  prime: Prime | None) -> tuple[Any, ...]:
        """``item`` with the body prefix its header flags announce: a tracing session id when
        the request asked for a trace (written to system_traces first), the engine's and a
        prime's client warnings, a primed custom payload. Warnings and payloads need v4+
        (Cassandra sends none to a v3 client)."""
        warnings: tuple[str, ...] = rec.warnings or ()
        payload = None
        if prime is not None:
            warnings = (*warnings, *prime.warnings)
            payload = prime.custom_payload
        if not rec.tracing and not warnings and payload is None:
            return item
        if self.version < 4:
            warnings, payload = (), None
        rec.warnings = warnings or None
        trace_id = self._trace(rec) if rec.tracing else None
        return _with_extras(item, trace_id, warnings, payload)

    def _trace(self, rec: RequestRecord) -> Any:
        """Write the request's trace (see ``engine.tracing``); its session id, or None."""
        kind = rec.kind
        if kind not in ("QUERY", "EXECUTE", "BATCH", "PREPARE"):
            return None
        node = self.node
        elapsed = max(0.0, time.monotonic() - rec.time)
        try:
            rec.tracing_id = node.cluster.engine.record_trace(
                kind, query=rec.query, keyspace=rec.keyspace, client=self.peer,
                coordinator=node.endpoint, started_at=time.time() - elapsed,
                duration_us=int(elapsed * 1e6), consistency=rec.consistency,
                serial_consistency=rec.serial_consistency, page_size=rec.page_size,
                prepared=kind == "EXECUTE",
                batch=tuple((q, pid is not None) for q, pid in rec.batch or ()),
                rows=rec.rows, failed=(rec.response or "").startswith("ERROR"))
        except Exception:  # a trace that cannot be written must not cost the answer
            _log.exception("tracing %s failed on %s", rec, node.name)
            return None
        return rec.tracing_id

    def _emit(self, out: list[tuple[Any, ...]], item: tuple[Any, ...], delay: float) -> None:
        if delay > 0:
            data = self.codec.encode(*item)
            self.node.hub.spawn(self._send_later, delay, data)
        else:
            out.append(item)

    def _send_later(self, delay: float, data: bytes) -> None:
        self.node.hub.sleep(delay)
        if not self.node.faults.paused:
            self._send(data)

    def _fill(self, rec: RequestRecord, msg: Any) -> None:
        if isinstance(msg, Execute):
            p = msg.params
            rec.prepared_id = msg.query_id
            prep = self.node.cluster.engine.get_prepared(msg.query_id)
            if prep is not None:
                rec.query = prep.query
                rec.keyspace = prep.keyspace or self.keyspace
            else:
                rec.keyspace = self.keyspace
        elif isinstance(msg, Query):
            p = msg.params
            rec.query = msg.query
            rec.keyspace = p.keyspace or self.keyspace
        elif isinstance(msg, Batch):
            rec.consistency = msg.consistency
            rec.serial_consistency = msg.serial_consistency
            rec.timestamp = msg.timestamp
            rec.keyspace = msg.keyspace or self.keyspace
            rec.batch_type = msg.batch_type
            engine = self.node.cluster.engine
            children = []
            for c in msg.statements:
                if c.kind == "prepared":
                    prep = engine.get_prepared(c.query_or_id)
                    children.append((prep.query if prep else None, bytes(c.query_or_id)))
                else:
                    children.append((str(c.query_or_id), None))
            rec.batch = tuple(children)
            rec.query = "; ".join(q for q, _ in children if q is not None)
            rec.values = [list(c.values) for c in msg.statements]
            return
        elif isinstance(msg, Prepare):
            rec.query = msg.query
            rec.keyspace = msg.keyspace or self.keyspace
            return
        else:
            return
        rec.consistency = p.consistency
        rec.serial_consistency = p.serial_consistency
        rec.timestamp = p.timestamp
        rec.paging_state = p.paging_state
        rec.page_size = p.page_size
        rec.values = p.values

    def _execute(self, msg: Any, rec: RequestRecord, stream: int) -> tuple[Any, ...]:
        node = self.node
        engine = node.cluster.engine
        version = self.version
        if isinstance(msg, Execute):
            qid = msg.query_id
            if qid not in node.prepared_ids:
                raise _unprepared(qid)
            p = msg.params
            result = engine.execute_prepared(
                qid, p.values, consistency=p.consistency, timestamp=p.timestamp,
                page_size=p.page_size, paging_state=p.paging_state, now=time.time(),
                coordinator=node.host_id, serial_consistency=p.serial_consistency)
            rec.note_result(result)
            if type(result).__name__ == "Rows":
                rec.response = "ROWS"
                cols = _columns(result.columns)
                changed = version >= 5 and msg.result_metadata_id != cols.metadata_id
                body = _rows_body(result, cols, version, p.skip_metadata, changed)
                return (stream, _RESULT, body, 0)
            return self._result(result, rec, stream)
        if isinstance(msg, Query):
            p = msg.params
            result = engine.execute(
                msg.query, keyspace=p.keyspace or self.keyspace, values=p.values,
                consistency=p.consistency, timestamp=p.timestamp, page_size=p.page_size,
                paging_state=p.paging_state, now=time.time(), coordinator=node.host_id,
                serial_consistency=p.serial_consistency)
            rec.note_result(result)
            if type(result).__name__ == "Rows":
                rec.response = "ROWS"
                body = _rows_body(result, _Columns(result.columns), version, False)
                return (stream, _RESULT, body, 0)
            return self._result(result, rec, stream)
        if isinstance(msg, Prepare):
            keyspace = msg.keyspace or self.keyspace
            prep = engine.prepare(msg.query, keyspace)
            node.prepared_ids.add(prep.id)
            bind = _Columns(prep.bind_specs)
            cols = _Columns(prep.result_specs)
            result_md = (ResultMetadata.of(cols.proto) if cols.proto
                         else ResultMetadata(_NO_METADATA, None, None, None, 0))
            res = PreparedResult(
                prep.id, cols.metadata_id if version >= 5 else None,
                PreparedMetadata.of(bind.proto, prep.pk_indexes), result_md)
            rec.response = "PREPARED"
            flags, body = encode_response(res, version)
            return (stream, _RESULT, body, flags)
        if isinstance(msg, Batch):
            for c in msg.statements:
                if c.kind == "prepared" and bytes(c.query_or_id) not in node.prepared_ids:
                    raise _unprepared(bytes(c.query_or_id))
            result = engine.execute_batch(
                [(c.query_or_id if c.kind == "prepared" else str(c.query_or_id),
                  list(c.values)) for c in msg.statements],
                msg.batch_type, keyspace=msg.keyspace or self.keyspace,
                consistency=msg.consistency, timestamp=msg.timestamp, now=time.time(),
                coordinator=node.host_id, serial_consistency=msg.serial_consistency)
            rec.note_result(result)
            if type(result).__name__ == "Rows":
                rec.response = "ROWS"
                body = _rows_body(result, _Columns(result.columns), version, False)
                return (stream, _RESULT, body, 0)
            return self._result(result, rec, stream)
        if isinstance(msg, Register):
            self.events = frozenset(str(e) for e in msg.event_types)
            rec.response = "READY"
            flags, body = encode_response(Ready(), version)
            return (stream, int(Opcode.READY), body, flags)
        raise _protocol_exception(f"Unexpected message {rec.kind}")

    def _result(self, result: Any, rec: RequestRecord, stream: int) -> tuple[Any, ...]:
        name = type(result).__name__
        if name == "Void":
            rec.response = "VOID"
            return (stream, _RESULT, _VOID_BODY, 0)
        if name == "SetKeyspace":
            self.keyspace = result.keyspace
            msg: Any = SetKeyspaceResult(result.keyspace)
        elif name == "SchemaChange":
            fields = (result.change_type, result.target, result.keyspace, result.name,
                      tuple(result.arg_types) if result.target in ("FUNCTION", "AGGREGATE")
                      else None)
            msg = SchemaChangeResult(*fields)
            cluster = self.node.cluster
            self._deferred.append(lambda: cluster.broadcast_event(SchemaChangeEvent(*fields)))
        else:
            raise TypeError(f"unexpected engine result {result!r}")
        rec.response = _RESPONSE_NAMES[type(msg).__name__]
        flags, body = encode_response(msg, self.version)
        return (stream, _RESULT, body, flags)

    def _primed(self, prime: Prime, msg: Any, rec: RequestRecord, stream: int
                ) -> tuple[Any, ...] | None:
        version = self.version
        if prime.error is not None:
            exc = prime.error
            rec.response = f"ERROR 0x{type(exc).error_code:04x}"
            flags, body = encode_response(
                _error(exc, rec.consistency, rec.prepared_id), version)
            return (stream, _ERROR, body, flags)
        if prime.void:
            rec.response = "VOID"
            return (stream, _RESULT, _VOID_BODY, 0)
        if prime.rows is not None:
            from greencql.protocol.types import parse_type_string

            assert prime.columns is not None
            cols = tuple(ColumnSpec(rec.keyspace or "primed", "primed", n,
                                    parse_type_string(t)) for n, t in prime.columns)
            rec.response = "ROWS"
            flags, body = encode_response(RowsResult(ResultMetadata.of(cols), prime.rows),
                                          version)
            return (stream, _RESULT, body, flags)
        return None  # delay only: answer normally, later

    # -- writing ---------------------------------------------------------------------------

    def _flush(self, out: list[tuple[Any, ...]]) -> None:
        if not out:
            return
        items = list(out)
        out.clear()
        codec = self.codec
        faults = self.node.faults
        if faults.drop_mid_response or (faults.corrupt_segments and codec.segments):
            for item in items:
                data = codec.encode(*item)
                if faults.take_drop_mid_response():
                    self._close_after_flush = True
                    self._send(data[: max(1, len(data) // 2)])
                    return
                kind = faults.take_corrupt_segment() if codec.segments else None
                if kind is not None:
                    data = _corrupt(data, kind, codec.compressor is not None)
                self._send(data)
            return
        self._send(codec.encode(*items[0]) if len(items) == 1 else codec.encode_many(items))

    def send_event(self, event: Event) -> None:
        """Push ``event`` on stream -1 (if this connection registered for its type)."""
        if self.closed or not self.ready or event.event_type not in self.events:
            return
        flags, body = encode_response(event, self.version)
        self._send(self.codec.encode(-1, _EVENT, body, flags))

    def _send(self, data: bytes) -> None:
        with self._lock:
            if self.closed:
                return
            self._pending.append(data)
            if self._writing:
                return
            self._writing = True
        sock = self.sock
        while True:
            with self._lock:
                pending = self._pending
                if not pending or self.closed:
                    self._writing = False
                    close = self._close_after_flush and not pending
                    break
                self._pending = []
            try:
                sock.sendall(pending[0] if len(pending) == 1 else b"".join(pending))
            except (OSError, ValueError):
                self._writing = False
                self.close()
                return
        if close:
            self.close()

    # -- closing ---------------------------------------------------------------------------

    def close(self) -> None:
        """Shut the socket down; the reader, woken by that, closes it. (Closing a socket
        another greenlet waits on leaves eventlet's hub watching a dead fd, and a blocked
        recv() on the thread hub is only woken by shutdown.)"""
        with self._lock:
            if self.closed and not self._draining:
                return
            was_open = not self.closed
            self.closed = True
            self._draining = False
            self._pending = []
        if was_open:
            self.node._forget(self)
        try:
            self.sock.shutdown(_stdsocket.SHUT_RDWR)
        except (OSError, ValueError):
            pass

    def half_close(self) -> None:
        """Send FIN and answer nothing more, but keep reading (and dropping) until the client
        closes its end: the reader task ends when the client has seen the close."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            self._draining = True
            self._pending = []
        self.node._forget(self)
        try:
            self.sock.shutdown(_stdsocket.SHUT_WR)
        except (OSError, ValueError):
            self.close()


def _with_extras(item: tuple[Any, ...], trace_id: Any, warnings: Sequence[str],
                 payload: dict[str, bytes | None] | None) -> tuple[Any, ...]:
    """A (stream, opcode, body, flags) response with the tracing id, warnings and custom
    payload prefixed to its body, in the order of the spec (section 2.2)."""
    stream, opcode, body, flags = item
    w = Writer()
    if trace_id is not None:
        flags |= HeaderFlag.TRACING
        w.write_uuid(trace_id)
    if warnings:
        flags |= HeaderFlag.WARNING
        w.write_string_list(list(warnings))
    if payload is not None:
        flags |= HeaderFlag.CUSTOM_PAYLOAD
        w.write_bytes_map(payload)
    return (stream, opcode, w.getvalue() + bytes(body), int(flags))


def _corrupt(data: bytes, kind: str, compressed: bool) -> bytes:
    """Flip one bit of the first segment's CRC24 (header) or the last CRC32 (payload)."""
    buf = bytearray(data)
    if kind == "crc24":
        buf[5 if compressed else 3] ^= 0x01
    else:
        buf[-1] ^= 0x01
    return bytes(buf)


def _unprepared(qid: bytes) -> ServerException:
    from greencql.errors import Unprepared

    return Unprepared(f"Prepared query with ID {qid.hex()} not found (either the query was "
                      "not prepared on this host (maybe the host has been restarted?) or you "
                      "have prepared too many queries and it has been evicted from the "
                      "internal cache)", statement_id=bytes(qid))


def _protocol_exception(message: str) -> ServerException:
    from greencql.errors import ProtocolException

    return ProtocolException(message)


# -- the node ----------------------------------------------------------------------------------


class SimNode:
    """One simulated node: listens on ``address:port`` while running.

    Fault switches (see also :class:`~greencql.testing.faults.NodeFaults` in ``faults``):
    :meth:`stop` / :meth:`start`, :meth:`pause` / :meth:`resume`, :attr:`latency`,
    :meth:`drop_next_responses`, :meth:`corrupt_next_segments`,
    :attr:`max_protocol_version`, :meth:`prime`. What it received: :attr:`log`.
    """

    def __init__(self, cluster: SimCluster, index: int, address: str, port: int, *,
                 dc: str, rack: str, tokens: Sequence[int], host_id: Any,
                 tls_context: ssl.SSLContext | None = None) -> None:
        self.cluster = cluster
        self.hub = cluster.hub
        self.index = index
        self.address = address
        self.port = port
        self.dc = dc
        self.rack = rack
        self.tokens = tuple(tokens)
        self.host_id = host_id
        self.faults = NodeFaults()
        self.log = RequestLog(cluster.hub)
        #: ids of the statements prepared on this node since it (re)started
        self.prepared_ids: set[bytes] = set()
        self.running = False
        self._tls_context = tls_context
        self._listener: Any = None
        self._accept_task: Any = None
        self._connections: dict[int, _Connection] = {}
        self._conn_seq = 0

    def __repr__(self) -> str:
        state = "up" if self.running else "down"
        return f"<SimNode {self.name} {self.address}:{self.port} {self.dc}/{self.rack} {state}>"

    @property
    def name(self) -> str:
        return f"node{self.index}"

    @property
    def endpoint(self) -> tuple[str, int]:
        """(address, native port): where clients connect."""
        return (self.address, self.port)

    @property
    def connections(self) -> list[Any]:
        """The open client connections (objects with .id, .peer, .version, .keyspace)."""
        return list(self._connections.values())

    def protocol_versions(self) -> list[int]:
        cap = self.faults.max_protocol_version
        return [v for v in self.cluster.protocol_versions if cap is None or v <= cap]

    # -- listening ------------------------------------------------------------------------

    def bind(self) -> int:
        """Open the listening socket (without accepting yet); returns the port (useful with
        port 0). Raises OSError if the address is taken."""
        if self._listener is not None:
            return self.port
        sock = self.hub.listen_tcp(self.address, self.port, backlog=_LISTEN_BACKLOG)
        self.port = sock.getsockname()[1]
        self._listener = sock
        return self.port

    def _unbind(self) -> None:
        sock, self._listener = self._listener, None
        if sock is None:
            return
        if self._accept_task is None:
            sock.close()
            return
        # wakes the accept loop (a thread blocked in accept(), a greenlet waiting for the fd),
        # which closes the socket itself
        try:
            sock.shutdown(_stdsocket.SHUT_RDWR)
        except OSError:
            sock.close()

    def start(self) -> None:
        """Listen (again) on the same address and port and accept connections. A restarted
        node knows no prepared statement. Clients registered elsewhere get STATUS_CHANGE UP."""
        if self.running:
            return
        self.bind()
        self.prepared_ids = set()
        self.running = True
        self._accept_task = self.hub.spawn(self._accept_loop, self._listener)
        self.cluster._node_changed(self, "UP")

    def stop(self) -> None:
        """Close the listener and every connection, forget prepared statements. Clients
        registered on other nodes get STATUS_CHANGE DOWN, once this node's clients have seen
        their connections close (see :meth:`_close_then_announce`)."""
        if not self.running:
            self._unbind()
            return
        self.running = False
        task = self._accept_task
        self._unbind()
        self._accept_task = None
        if task is not None:
            task.join(_STOP_JOIN_TIMEOUT)  # the accept loop closes the listener as it exits
        self.prepared_ids = set()
        cluster = self.cluster
        if cluster._started and cluster._has_listeners("STATUS_CHANGE", exclude=self):
            self._close_then_announce(_CLIENT_CLOSE_TIMEOUT)
        else:
            self.close_connections()  # nobody to tell, so no order to keep
        cluster._node_changed(self, "DOWN")

    def _close_then_announce(self, timeout: float) -> None:
        """Close every connection and wait (up to ``timeout``) until each client has closed
        its end, before the caller pushes DOWN through the other nodes.

        A real node closes its client connections first, then announces its shutdown over
        gossip; its peers push DOWN only after that round trip, so a client has long seen EOF
        on its connections to the node when the event arrives. Clients rely on that order:
        cassandra-driver ignores a DOWN event for a host it still holds an open pool
        connection to (``Cluster._discount_down_events``), and an idle connection's EOF alone
        never marks the host down. Pushed microseconds after the FIN, DOWN can reach the
        client's event loop in the same wake-up as that EOF, be handled first, and be
        dropped. So: half-close (FIN) and wait for each client's own FIN, which it sends
        after it has noticed EOF and closed its socket; only a client that does not read in
        time gets its connection shut down fully and the event first.
        """
        conns = list(self._connections.values())
        for conn in conns:
            conn.half_close()
        deadline = self.hub.monotonic() + timeout
        for conn in conns:
            task = conn.task
            if task is None or not task.join(max(0.0, deadline - self.hub.monotonic())):
                conn.close()

    def close_connections(self) -> None:
        """Close every client connection (the listener stays open)."""
        for conn in list(self._connections.values()):
            conn.close()

    def _accept_loop(self, listener: Any) -> None:
        try:
            self._accept(listener)
        finally:
            listener.close()

    def _accept(self, listener: Any) -> None:
        hub = self.hub
        while self.running and listener is self._listener:
            try:
                sock, peer = listener.accept()
            except (OSError, ValueError, EOFError):
                break
            if not self.running or listener is not self._listener:
                sock.close()
                break
            try:
                sock.setsockopt(_stdsocket.IPPROTO_TCP, _stdsocket.TCP_NODELAY, 1)
            except OSError:
                pass
            self._conn_seq += 1
            conn = _Connection(self, sock, peer, self._conn_seq)
            self._connections[conn.id] = conn
            conn.task = hub.spawn(conn.run)

    def _forget(self, conn: _Connection) -> None:
        self._connections.pop(conn.id, None)

    def has_listeners(self, event_type: str) -> bool:
        """Whether a connection of this node registered for ``event_type`` events."""
        return any(event_type in c.events for c in list(self._connections.values()))

    def push_event(self, event: Event) -> None:
        """Send ``event`` to every connection of this node registered for its type."""
        for conn in list(self._connections.values()):
            try:
                conn.send_event(event)
            except (OSError, ValueError, ProtocolError):
                conn.close()

    # -- fault switches -------------------------------------------------------------------

    def pause(self) -> None:
        """Keep accepting and reading, never answer (a half-open peer)."""
        self.faults.paused = True

    def resume(self) -> None:
        self.faults.paused = False

    @property
    def latency(self) -> float:
        """Seconds added before every response."""
        return self.faults.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self.faults.latency = float(seconds)

    @property
    def max_protocol_version(self) -> int | None:
        """The highest protocol version new connections may use (None: all)."""
        return self.faults.max_protocol_version

    @max_protocol_version.setter
    def max_protocol_version(self, version: int | None) -> None:
        self.faults.max_protocol_version = version

    def drop_next_responses(self, n: int = 1) -> None:
        """Cut the next ``n`` responses in the middle and close their connections."""
        self.faults.drop_mid_response += n

    def corrupt_next_segments(self, n: int = 1, kind: str = "crc32") -> None:
        """Send the next ``n`` v5 segments with a bad CRC32 (payload) or CRC24 (header)."""
        if kind not in ("crc32", "crc24"):
            raise ValueError("kind is 'crc32' or 'crc24'")
        self.faults.corrupt_kind = kind
        self.faults.corrupt_segments += n

    def prime(self, pattern: Any, **kwargs: Any) -> Prime:
        """Prime an answer for requests matching ``pattern`` on this node (see
        :class:`~greencql.testing.faults.Prime` for the keywords)."""
        return self.faults.add_prime(pattern if isinstance(pattern, Prime)
                                     else Prime(pattern, **kwargs))

    def prime_error(self, pattern: Any, error: Any, **kwargs: Any) -> Prime:
        return self.prime(pattern, error=error, **kwargs)

    def clear_primes(self) -> None:
        self.faults.clear_primes()

    def reset_faults(self) -> None:
        self.faults.reset()

    # -- request-log router (RequestRecord asks these lazily) ------------------------------

    def routing_of(self, rec: RequestRecord) -> tuple[str, bytes] | None:
        return self.cluster.routing_of(rec)

    def is_replica(self, keyspace: str, key: bytes) -> bool:
        return self in self.cluster.replicas(keyspace, key)

