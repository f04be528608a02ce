"""Statements: what to run and how, as plain data.

Owns :class:`Statement` and its kinds, named and behaving as in cassandra-driver:
:class:`SimpleStatement` (CQL text, parameters rendered client-side by
:mod:`greencql.cluster.literals`), :class:`PreparedStatement` (what a PREPARE returned),
:class:`BoundStatement` (a prepared statement with its values serialized), and
:class:`BatchStatement`. Each carries the per-request options a session reads: consistency,
serial consistency, page size and paging state, timeout, retry policy, idempotence, v5
per-statement keyspace, custom payload, client timestamp, tracing, and the routing key that
token-aware load balancing hashes.

Statements hold data only. They never touch a connection, a clock or a hub, and never parse
bytes: values are serialized through the protocol layer's ``encode_value``, and building the
request message is the session's job.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from greencql.cluster.literals import Encoder, bind_params
from greencql.protocol.constants import BatchType, ConsistencyLevel
from greencql.protocol.wire import UNSET, UnsetType

__all__ = [
    "Statement",
    "SimpleStatement",
    "PreparedStatement",
    "BoundStatement",
    "BatchStatement",
    "BatchEntry",
    "BatchType",
    "UNSET_VALUE",
    "FETCH_SIZE_UNSET",
    "ColumnSpecLike",
    "MAX_BATCH_STATEMENTS",
    "DEFAULT_PREPARED_PROTOCOL_VERSION",
]

#: a bind value the server treats as "not set" (protocol v4+); cassandra-driver's name
UNSET_VALUE = UNSET

#: BATCH carries its statement count in a [short]
MAX_BATCH_STATEMENTS = 0xFFFF

#: the protocol version a PreparedStatement assumes when its creator does not say; v4 is the
#: lowest version with UNSET, and every server greencql targets speaks it. Sessions pass the
#: negotiated version.
DEFAULT_PREPARED_PROTOCOL_VERSION = 4


class _FetchSizeUnset:
    """The type of :data:`FETCH_SIZE_UNSET`."""

    _instance: _FetchSizeUnset | None = None

    def __new__(cls) -> _FetchSizeUnset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "FETCH_SIZE_UNSET"

    def __reduce__(self) -> str:
        return "FETCH_SIZE_UNSET"


#: ``fetch_size`` not given: the session's default page size applies (None or 0 turns paging
#: off for the statement)
FETCH_SIZE_UNSET = _FetchSizeUnset()


class ColumnSpecLike(Protocol):
    """What a statement reads from a column spec (``greencql.protocol.rows.ColumnSpec``)."""

    @property
    def keyspace(self) -> str: ...

    @property
    def table(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def type(self) -> Any: ...


BoundValue = bytes | None | UnsetType

_pack_short = struct.Struct(">H").pack


def _composite_key(parts: Iterable[bytes]) -> bytes:
    """A composite partition key as Cassandra's CompositeType lays it out (and murmur3
    hashes it): each component as [short length][bytes][0x00 end-of-component]."""
    out = bytearray()
    for part in parts:
        out += _pack_short(len(part))
        out += part
        out.append(0)
    return bytes(out)


def _check_consistency(level: int | None) -> ConsistencyLevel | None:
    if level is None:
        return None
    return ConsistencyLevel(level)


def _check_serial(level: int | None) -> ConsistencyLevel | None:
    if level is None:
        return None
    if level not in (ConsistencyLevel.SERIAL, ConsistencyLevel.LOCAL_SERIAL):
        raise ValueError(
            "serial_consistency_level must be either ConsistencyLevel.SERIAL "
            f"or ConsistencyLevel.LOCAL_SERIAL, not {level!r}"
        )
    return ConsistencyLevel(level)


def _check_retry_policy(policy: object) -> None:
    # One method is enough to catch a positional argument in the wrong place.
    if policy is not None and not hasattr(policy, "on_read_timeout"):
        raise ValueError("retry_policy should implement a RetryPolicy (on_read_timeout, ...)")


def _retry_policy_ok(policy: object) -> bool:
    try:
        _check_retry_policy(policy)
    except Exception:
        return False
    return True


# object.__new__: a BoundStatement made by PreparedStatement.bind's plan, without __init__
_new_bound = object.__new__


def _check_timestamp(timestamp: int | None) -> int | None:
    if timestamp is not None and (not isinstance(timestamp, int) or isinstance(timestamp, bool)):
        raise TypeError(
            f"timestamp must be an int (microseconds since the epoch), not "
            f"{type(timestamp).__name__}"
        )
    return timestamp


def _check_timeout(timeout: float | None, name: str = "timeout") -> float | None:
    """A client timeout is a positive number of seconds, or None for no client timeout (the
    one unbounded wait, asked for explicitly). Zero, negative and NaN are refused here, at the
    call, rather than turning into an instant or endless wait later."""
    if timeout is not None and not timeout > 0:  # ``not >`` also catches NaN
        raise ValueError(f"{name} must be a positive number of seconds or None, not {timeout!r}")
    return timeout


def _level_name(level: int | None) -> str:
    return "Not Set" if level is None else ConsistencyLevel(level).name


class Statement:
    """Options common to every statement kind. ``None`` (or :data:`FETCH_SIZE_UNSET` for
    ``fetch_size``) means "use the session's / execution profile's default".

    - ``consistency_level``, ``serial_consistency_level`` (SERIAL or LOCAL_SERIAL only);
    - ``fetch_size``: rows per page; ``paging_state``: resume after a page (bytes from a
      previous result);
    - ``timeout``: seconds the client waits for this request (its own timeout,
      :class:`~greencql.errors.OperationTimedOut`), ``None`` for the session default;
    - ``retry_policy``; ``is_idempotent``: safe to retry or run speculatively (default
      False, as in cassandra-driver);
    - ``keyspace``: the keyspace the statement acts on: used for routing, and sent with the
      request in protocol v5;
    - ``custom_payload``: ``{str: bytes}`` for the server (v4+);
    - ``timestamp``: client write timestamp in microseconds since the epoch, overriding the
      session's timestamp generator;
    - ``trace``: ask the server to trace this request;
    - ``routing_key``: the serialized partition key (settable; a list or tuple of serialized
      components is packed as a composite key).
    """

    retry_policy: Any
    consistency_level: ConsistencyLevel | None
    fetch_size: int | _FetchSizeUnset | None
    keyspace: str | None
    custom_payload: dict[str, bytes] | None
    is_idempotent: bool
    paging_state: bytes | None
    trace: bool
    _serial_consistency_level: ConsistencyLevel | None = None
    _routing_key: bytes | None = None
    _timestamp: int | None = None
    _timeout: float | None = None

    def __init__(
        self,
        retry_policy: Any = None,
        consistency_level: int | None = None,
        routing_key: bytes | Sequence[bytes] | None = None,
        serial_consistency_level: int | None = None,
        fetch_size: int | _FetchSizeUnset | None = FETCH_SIZE_UNSET,
        keyspace: str | None = None,
        custom_payload: Mapping[str, bytes] | None = None,
        is_idempotent: bool = False,
        *,
        paging_state: bytes | None = None,
        timeout: float | None = None,
        timestamp: int | None = None,
        trace: bool = False,
    ) -> None:
        _check_retry_policy(retry_policy)
        self.retry_policy = retry_policy
        self.consistency_level = _check_consistency(consistency_level)
        self.serial_consistency_level = serial_consistency_level  # type: ignore[assignment]
        self.fetch_size = fetch_size
        self.keyspace = keyspace
        self.custom_payload = dict(custom_payload) if custom_payload is not None else None
        self.is_idempotent = is_idempotent
        self.paging_state = paging_state
        self.timeout = timeout
        self.timestamp = timestamp
        self.trace = trace
        self.routing_key = routing_key  # type: ignore[assignment]

    @property
    def serial_consistency_level(self) -> ConsistencyLevel | None:
        """Consistency of the Paxos phase of conditional (IF ...) writes."""
        return self._serial_consistency_level

    @serial_consistency_level.setter
    def serial_consistency_level(self, level: int | None) -> None:
        self._serial_consistency_level = _check_serial(level)

    @serial_consistency_level.deleter
    def serial_consistency_level(self) -> None:
        self._serial_consistency_level = None

    @property
    def timestamp(self) -> int | None:
        """Client write timestamp (microseconds since the epoch), or None for the session's."""
        return self._timestamp

    @timestamp.setter
    def timestamp(self, value: int | None) -> None:
        self._timestamp = _check_timestamp(value)

    @property
    def timeout(self) -> float | None:
        """Seconds the client waits for an answer, or None for the session default."""
        return self._timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self._timeout = _check_timeout(value)

    @property
    def routing_key(self) -> bytes | None:
        """The serialized partition key, for token-aware routing (None when unknown)."""
        return self._routing_key

    @routing_key.setter
    def routing_key(self, key: bytes | Sequence[bytes] | None) -> None:
        if isinstance(key, (list, tuple)):
            self._routing_key = key[0] if len(key) == 1 else _composite_key(key)
        else:
            self._routing_key = key  # type: ignore[assignment]

    @routing_key.deleter
    def routing_key(self) -> None:
        self._routing_key = None


class SimpleStatement(Statement):
    """CQL text, optionally with ``%s`` / ``%(name)s`` markers that the session fills with
    CQL literals rendered from the ``parameters`` given to ``execute``."""

    def __init__(
        self,
        query_string: str,
        retry_policy: Any = None,
        consistency_level: int | None = None,
        routing_key: bytes | Sequence[bytes] | None = None,
        serial_consistency_level: int | None = None,
        fetch_size: int | _FetchSizeUnset | None = FETCH_SIZE_UNSET,
        keyspace: str | None = None,
        custom_payload: Mapping[str, bytes] | None = None,
        is_idempotent: bool = False,
        *,
        paging_state: bytes | None = None,
        timeout: float | None = None,
        timestamp: int | None = None,
        trace: bool = False,
    ) -> None:
        if not isinstance(query_string, str):
            raise TypeError(f"query_string must be a str, not {type(query_string).__name__}")
        super().__init__(
            retry_policy,
            consistency_level,
            routing_key,
            serial_consistency_level,
            fetch_size,
            keyspace,
            custom_payload,
            is_idempotent,
            paging_state=paging_state,
            timeout=timeout,
            timestamp=timestamp,
            trace=trace,
        )
        self._query_string = query_string

    @property
    def query_string(self) -> str:
        return self._query_string

    def __repr__(self) -> str:
        return (
            # a copy the session rendered %s parameters into shows its template, not the
            # values (they may be personal data or secrets)
            f'<SimpleStatement query="{getattr(self, "_template", None) or self._query_string}", '
            f"consistency={_level_name(self.consistency_level)}>"
        )

    __str__ = __repr__


_encode_value: Callable[[Any, Any, str], BoundValue] | None = None


def _value_encoder() -> Callable[[Any, Any, str], BoundValue]:
    # The protocol layer's codecs, imported on first bind so this module (and the literal
    # rendering of simple statements) does not depend on them being importable.
    global _encode_value
    if _encode_value is None:
        from greencql.protocol.types import encode_value

        _encode_value = encode_value
    return _encode_value


class PreparedStatement:
    """A statement prepared on the cluster: the server's ``query_id``, the CQL text, the
    specs of its bind markers (``column_metadata``, in marker order, named after the column
    or the ``:name`` of a named marker), the indexes of the partition key columns among them
    (``routing_key_indexes``, also ``pk_indexes``), the keyspace it was prepared in, and its
    result metadata (``result_metadata``, a ``rows.ResultMetadata``, and in v5
    ``result_metadata_id``; a session replaces both when the server says they changed).

    Sessions create these from a PREPARED result; users set defaults on them
    (``consistency_level``, ``fetch_size``, ``is_idempotent``, ...) that every statement
    bound from them inherits, then call :meth:`bind`.
    """

    def __init__(
        self,
        query_id: bytes,
        query_string: str,
        column_metadata: Sequence[ColumnSpecLike] = (),
        routing_key_indexes: Sequence[int] | None = None,
        keyspace: str | None = None,
        protocol_version: int = DEFAULT_PREPARED_PROTOCOL_VERSION,
        result_metadata: Any = None,
        result_metadata_id: bytes | None = None,
        *,
        consistency_level: int | None = None,
        serial_consistency_level: int | None = None,
        fetch_size: int | _FetchSizeUnset | None = FETCH_SIZE_UNSET,
        retry_policy: Any = None,
        custom_payload: Mapping[str, bytes] | None = None,
        is_idempotent: bool = False,
        timeout: float | None = None,
    ) -> None:
        self.query_id = query_id
        self.query_string = query_string
        self.column_metadata: tuple[ColumnSpecLike, ...] = tuple(column_metadata)
        self.routing_key_indexes: tuple[int, ...] | None = (
            tuple(routing_key_indexes) if routing_key_indexes else None
        )
        for i in self.routing_key_indexes or ():
            if not 0 <= i < len(self.column_metadata):
                raise ValueError(
                    f"partition key index {i} out of range for {len(self.column_metadata)} "
                    "bind markers"
                )
        self.keyspace = keyspace
        self.protocol_version = protocol_version
        # cassandra-driver's result_metadata: the result's column specs, None when the
        # statement returns no columns of its own (an LWT, an INSERT)
        if result_metadata is not None and not getattr(result_metadata, "columns", True):
            result_metadata = None
        self.result_metadata = result_metadata
        self.result_metadata_id = result_metadata_id
        _check_retry_policy(retry_policy)
        self.consistency_level = _check_consistency(consistency_level)
        self._serial_consistency_level = _check_serial(serial_consistency_level)
        self.fetch_size = fetch_size
        self.retry_policy = retry_policy
        self.custom_payload = dict(custom_payload) if custom_payload is not None else None
        self.is_idempotent = is_idempotent
        self._timeout = _check_timeout(timeout)
        self._routing_key_index_set = frozenset(self.routing_key_indexes or ())

    # -- the bind plan: what every bind() of this statement needs, worked out once ------------
    #
    # ``_plan`` is None until the first bind() and whenever an option of this statement is
    # changed (see __setattr__): (the attributes a BoundStatement inherits, as one dict; the
    # value encoder of each marker; the single partition key marker's index, or -1).

    _plan: tuple[dict[str, Any], tuple[Callable[[Any], bytes], ...], int] | None = None

    def __setattr__(self, name: str, value: Any) -> None:
        # an option set on the statement after a bind must reach the next bind
        object.__setattr__(self, name, value)
        if name != "_plan" and self._plan is not None:
            object.__setattr__(self, "_plan", None)

    def _bind_plan(self) -> tuple[dict[str, Any], tuple[Callable[[Any], bytes], ...], int]:
        meta = self.column_metadata
        keyspace = meta[0].keyspace if meta and meta[0].keyspace else self.keyspace
        level = self.consistency_level
        if level is not None and type(level) is not ConsistencyLevel:
            level = ConsistencyLevel(level)
        inherited = {
            "prepared_statement": self,
            "retry_policy": self.retry_policy,
            "consistency_level": level,
            "_serial_consistency_level": self._serial_consistency_level,
            "fetch_size": self.fetch_size,
            "keyspace": keyspace,
            "is_idempotent": self.is_idempotent,
            "paging_state": None,
            "_timeout": self._timeout,
            "_timestamp": None,
            "trace": False,
            "_routing_key": None,
            "custom_payload": None,
        }
        try:
            encoders = tuple(spec.type.encode for spec in meta)
        except AttributeError:  # column specs without codec types: the generic bind decides
            encoders = ()
        indexes = self.routing_key_indexes
        pk = indexes[0] if indexes and len(indexes) == 1 else -1
        plan = (inherited, encoders, pk)
        if self.custom_payload is None and len(encoders) == len(meta) \
                and (self.retry_policy is None or _retry_policy_ok(self.retry_policy)):
            object.__setattr__(self, "_plan", plan)
        return plan

    @classmethod
    def from_result(
        cls,
        result: Any,
        query_string: str,
        keyspace: str | None = None,
        protocol_version: int = DEFAULT_PREPARED_PROTOCOL_VERSION,
    ) -> PreparedStatement:
        """Build from a PREPARED result (``greencql.protocol.messages.PreparedResult``:
        ``query_id``, ``result_metadata_id``, ``bind_metadata`` with ``columns`` and
        ``pk_indexes``, ``result_metadata``). ``keyspace`` is the one the statement was
        prepared in (v5 per-statement keyspace, or the session's)."""
        bind = result.bind_metadata
        return cls(
            result.query_id,
            query_string,
            bind.columns,
            bind.pk_indexes or None,
            keyspace,
            protocol_version,
            result.result_metadata,
            result.result_metadata_id,
        )

    @property
    def pk_indexes(self) -> tuple[int, ...] | None:
        """Alias of ``routing_key_indexes`` (the name the PREPARED result gives them)."""
        return self.routing_key_indexes

    serial_consistency_level = Statement.serial_consistency_level
    timeout = Statement.timeout

    def is_routing_key_index(self, i: int) -> bool:
        return i in self._routing_key_index_set

    def bind(self, values: Sequence[Any] | Mapping[str, Any] | None = None) -> BoundStatement:
        """A new :class:`BoundStatement` with ``values`` serialized (see
        :meth:`BoundStatement.bind`)."""
        # The per-request case (a list or tuple with a value for every marker) in one call:
        # the options and encoders come from the bind plan, the routing key of a one-column
        # partition key is taken as its value is encoded. Anything else, and any value that
        # does not encode, goes through BoundStatement.bind, which also words the errors.
        plan = self._plan
        if plan is None or plan[0]["prepared_statement"] is not self:  # (a copy's plan)
            plan = self._bind_plan()
            if self._plan is not plan:
                return BoundStatement(self).bind(values)
        t = type(values)
        inherited, encoders, pk = plan
        if (t is tuple or t is list) and len(values) == len(encoders):  # type: ignore[arg-type]
            out: list[Any] = []
            try:
                for value, encode in zip(values, encoders, strict=True):  # type: ignore[arg-type]
                    if value is None:
                        out.append(None)
                    elif value is UNSET:
                        break
                    else:
                        out.append(encode(value))
                else:
                    bound = _new_bound(BoundStatement)
                    d = bound.__dict__
                    d.update(inherited)
                    d["values"] = out
                    d["raw_values"] = values
                    d["_computed_routing_key"] = (
                        out[pk] if pk >= 0 and type(out[pk]) is bytes else None
                    )
                    return bound  # type: ignore[no-any-return]
            except Exception:
                pass
        return BoundStatement(self).bind(values)

    def __repr__(self) -> str:
        return (
            f'<PreparedStatement query="{self.query_string}", '
            f"consistency={_level_name(self.consistency_level)}>"
        )

    __str__ = __repr__


class BoundStatement(Statement):
    """A prepared statement with values: ``values`` holds each bind marker's serialized
    bytes (None for null, :data:`UNSET_VALUE` for not set), ``raw_values`` what was given.

    Options default to those of the prepared statement; keyword arguments override them.
    """

    prepared_statement: PreparedStatement
    values: list[BoundValue]
    raw_values: Sequence[Any]

    def __init__(
        self,
        prepared_statement: PreparedStatement,
        retry_policy: Any = None,
        consistency_level: int | None = None,
        routing_key: bytes | Sequence[bytes] | None = None,
        serial_consistency_level: int | None = None,
        fetch_size: int | _FetchSizeUnset | None = FETCH_SIZE_UNSET,
        keyspace: str | None = None,
        custom_payload: Mapping[str, bytes] | None = None,
        is_idempotent: bool | None = None,
        *,
        paging_state: bytes | None = None,
        timeout: float | None = None,
        timestamp: int | None = None,
        trace: bool = False,
    ) -> None:
        ps = prepared_statement
        self.prepared_statement = ps
        self.values = []
        self.raw_values = ()
        self._computed_routing_key: bytes | None = None
        if keyspace is None:
            meta = ps.column_metadata
            keyspace = meta[0].keyspace if meta and meta[0].keyspace else ps.keyspace
        if (
            retry_policy is None and consistency_level is None and routing_key is None
            and serial_consistency_level is None and fetch_size is FETCH_SIZE_UNSET
            and custom_payload is None and is_idempotent is None and paging_state is None
            and timeout is None and timestamp is None and not trace
        ):
            # ``prepared.bind(values)``, once per request: every option comes from the
            # prepared statement. Its serial consistency and timeout were checked by its
            # property setters; the rest is checked as Statement.__init__ would.
            self._inherit(ps, keyspace)
            return
        super().__init__(
            ps.retry_policy if retry_policy is None else retry_policy,
            ps.consistency_level if consistency_level is None else consistency_level,
            routing_key,
            (
                ps.serial_consistency_level
                if serial_consistency_level is None
                else serial_consistency_level
            ),
            ps.fetch_size if fetch_size is FETCH_SIZE_UNSET else fetch_size,
            keyspace,
            ps.custom_payload if custom_payload is None else custom_payload,
            ps.is_idempotent if is_idempotent is None else is_idempotent,
            paging_state=paging_state,
            timeout=ps.timeout if timeout is None else timeout,
            timestamp=timestamp,
            trace=trace,
        )

    def _inherit(self, ps: PreparedStatement, keyspace: str | None) -> None:
        """Statement.__init__ with every option taken from ``ps``, minus the redundant work."""
        policy = ps.retry_policy
        if policy is not None:
            _check_retry_policy(policy)
        self.retry_policy = policy
        level = ps.consistency_level
        self.consistency_level = (
            level if level is None or type(level) is ConsistencyLevel else ConsistencyLevel(level)
        )
        self._serial_consistency_level = ps._serial_consistency_level
        self.fetch_size = ps.fetch_size
        self.keyspace = keyspace
        payload = ps.custom_payload
        self.custom_payload = dict(payload) if payload is not None else None
        self.is_idempotent = ps.is_idempotent
        self.paging_state = None
        self._timeout = ps._timeout
        self._timestamp = None
        self.trace = False
        self._routing_key = None

    def bind(self, values: Sequence[Any] | Mapping[str, Any] | None) -> BoundStatement:
        """Serialize ``values`` for the bind markers and return this statement.

        ``values`` is a sequence in marker order, or a mapping from marker name (the column,
        or the ``:name`` of a named marker) to value; extra keys are ignored. With protocol
        v4+, missing names and missing trailing values are sent as :data:`UNSET_VALUE`
        (except for partition key columns); with v3 they are errors. Raises
        :class:`ValueError` for too many values (naming the counts), :class:`KeyError` for
        a missing name in v3, :class:`TypeError` for a value of the wrong type (naming the
        column and its CQL type).
        """
        ps = self.prepared_statement
        specs = ps.column_metadata
        proto = ps.protocol_version
        if values is None:
            values = ()
        elif isinstance(values, (str, bytes, bytearray)):
            raise TypeError(
                f"values must be a sequence or a mapping, not {type(values).__name__} "
                "(for one value write (value,))"
            )
        if isinstance(values, Mapping):
            by_name = values
            ordered: list[Any] = []
            for spec in specs:
                try:
                    ordered.append(by_name[spec.name])
                except KeyError:
                    if proto < 4:
                        raise KeyError(
                            f"Column name `{spec.name}` not found in bound dict "
                            f"(protocol v{proto} has no UNSET values)"
                        ) from None
                    ordered.append(UNSET)
            values = ordered
        elif not isinstance(values, Sequence):
            values = list(values)
        n_given, n_markers = len(values), len(specs)
        if n_given > n_markers:
            raise ValueError(
                f"Too many arguments provided to bind() (got {n_given}, expected {n_markers})"
            )
        if n_given < n_markers and proto < 4:
            raise ValueError(
                f"Too few arguments provided to bind() (got {n_given}, expected {n_markers}; "
                f"protocol v{proto} has no UNSET values)"
            )
        encode = _value_encoder() if n_given else None
        out: list[BoundValue] = []
        for i, spec in enumerate(specs):
            value = values[i] if i < n_given else UNSET
            if value is None:
                out.append(None)
            elif value is UNSET:
                if proto < 4:
                    raise ValueError(
                        f"Attempt to bind UNSET_VALUE for column '{spec.name}' while using "
                        f"protocol version {proto} (< 4)"
                    )
                if ps.is_routing_key_index(i):
                    raise ValueError(
                        f"Cannot bind UNSET_VALUE as a part of the routing key '{spec.name}'"
                    )
                out.append(UNSET)
            else:
                out.append(encode(spec.type, value, spec.name))  # type: ignore[misc]
        self.raw_values = values
        self.values = out
        self._computed_routing_key = None
        return self

    @property
    def routing_key(self) -> bytes | None:
        """Set explicitly, or else computed from the bound partition key values: a single
        column's serialized bytes, or the composite layout of several. None if a partition
        key value is null or the statement has no partition key markers."""
        if self._routing_key is not None:
            return self._routing_key
        if self._computed_routing_key is not None:
            return self._computed_routing_key
        indexes = self.prepared_statement.routing_key_indexes
        if not indexes:
            return None
        values = self.values
        if len(indexes) == 1:  # the usual single-column partition key, without the lists
            i = indexes[0]
            if len(values) <= i:
                return None
            part = values[i]
            if not isinstance(part, (bytes, bytearray)):
                return None
            key = bytes(part)
            self._computed_routing_key = key
            return key
        if len(values) <= max(indexes):
            return None
        parts = [values[i] for i in indexes]
        if any(not isinstance(p, (bytes, bytearray)) for p in parts):
            return None
        key = bytes(parts[0]) if len(parts) == 1 else _composite_key(parts)  # type: ignore[arg-type]
        self._computed_routing_key = key
        return key

    @routing_key.setter
    def routing_key(self, key: bytes | Sequence[bytes] | None) -> None:
        Statement.routing_key.fset(self, key)  # type: ignore[attr-defined]

    @routing_key.deleter
    def routing_key(self) -> None:
        self._routing_key = None

    def __repr__(self) -> str:
        return (
            f'<BoundStatement query="{self.prepared_statement.query_string}", '
            # how many, never which: bound values may be personal data or secrets
            f"values=<{len(self.raw_values)} bound>, "
            f"consistency={_level_name(self.consistency_level)}>"
        )

    __str__ = __repr__


class BatchEntry(NamedTuple):
    """One statement of a batch as BATCH sends it: CQL text with no values
    (``is_prepared`` False, parameters already rendered), or a prepared ``query_id`` with
    its serialized values. ``prepared_statement`` lets a session re-prepare after an
    UNPREPARED error. Unpacks as cassandra-driver's ``(is_prepared, statement, values)``
    plus that fourth field."""

    is_prepared: bool
    statement: str | bytes
    values: Sequence[BoundValue]
    prepared_statement: PreparedStatement | None = None


class BatchStatement(Statement):
    """Several modifications sent as one BATCH: ``LOGGED`` (atomic, the default),
    ``UNLOGGED`` or ``COUNTER``.

    :meth:`add` accepts CQL text, a :class:`SimpleStatement` (with parameters rendered as
    literals here), a :class:`PreparedStatement` (bound here) or a :class:`BoundStatement`.
    The first added statement that has a keyspace and a routing key gives the batch its
    routing; custom payloads of added statements are merged into the batch's.
    ``session`` is optional and only lends its ``encoder`` for rendering parameters.
    """

    batch_type: BatchType

    def __init__(
        self,
        batch_type: BatchType | int = BatchType.LOGGED,
        retry_policy: Any = None,
        consistency_level: int | None = None,
        serial_consistency_level: int | None = None,
        session: Any = None,
        custom_payload: Mapping[str, bytes] | None = None,
        *,
        keyspace: str | None = None,
        is_idempotent: bool = False,
        timeout: float | None = None,
        timestamp: int | None = None,
        trace: bool = False,
    ) -> None:
        # cassandra-driver's BatchType objects carry .value; ours is an IntEnum
        self.batch_type = BatchType(getattr(batch_type, "value", batch_type))
        self._entries: list[BatchEntry] = []
        self._session = session
        super().__init__(
            retry_policy,
            consistency_level,
            None,
            serial_consistency_level,
            FETCH_SIZE_UNSET,
            keyspace,
            custom_payload,
            is_idempotent,
            timeout=timeout,
            timestamp=timestamp,
            trace=trace,
        )

    @property
    def entries(self) -> tuple[BatchEntry, ...]:
        """The statements added so far, in order."""
        return tuple(self._entries)

    @property
    def _statements_and_parameters(self) -> list[tuple[bool, str | bytes, Sequence[BoundValue]]]:
        # cassandra-driver's attribute, read by some existing code
        return [(e.is_prepared, e.statement, e.values) for e in self._entries]

    def _encoder(self) -> Encoder | None:
        return getattr(self._session, "encoder", None)

    def add(
        self,
        statement: str | Statement | PreparedStatement,
        parameters: Sequence[Any] | Mapping[str, Any] | None = None,
    ) -> BatchStatement:
        """Append one statement (with its parameters, for text, simple and prepared
        statements); returns the batch."""
        if isinstance(statement, str):
            query = bind_params(statement, parameters, self._encoder()) if parameters else statement
            self._append(BatchEntry(False, query, ()))
        elif isinstance(statement, PreparedStatement):
            bound = statement.bind(parameters)
            self._update_state(bound)
            self._append(BatchEntry(True, statement.query_id, bound.values, statement))
        elif isinstance(statement, BoundStatement):
            if parameters:
                raise ValueError(
                    "Parameters cannot be passed with a BoundStatement to BatchStatement.add()"
                )
            ps = statement.prepared_statement
            self._update_state(statement)
            self._append(BatchEntry(True, ps.query_id, statement.values, ps))
        elif isinstance(statement, SimpleStatement):
            query = statement.query_string
            if parameters:
                query = bind_params(query, parameters, self._encoder())
            self._update_state(statement)
            self._append(BatchEntry(False, query, ()))
        else:
            raise TypeError(
                "a batch holds CQL strings, SimpleStatement, PreparedStatement or "
                f"BoundStatement, not {type(statement).__name__}"
            )
        return self

    def add_all(
        self,
        statements: Iterable[str | Statement | PreparedStatement],
        parameters: Iterable[Sequence[Any] | Mapping[str, Any] | None],
    ) -> BatchStatement:
        """Add statements with their parameters, pairwise (use None for no parameters).
        Unlike cassandra-driver, sequences of different lengths are refused, not truncated."""
        for statement, params in zip(statements, parameters, strict=True):
            self.add(statement, params)
        return self

    def clear(self) -> None:
        """Empty the batch for reuse (also forgets routing and merged custom payloads)."""
        self._entries.clear()
        self.keyspace = None
        self._routing_key = None
        if self.custom_payload:
            self.custom_payload = {}

    def size(self) -> int:
        """How many statements the batch holds."""
        return len(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def _append(self, entry: BatchEntry) -> None:
        if len(self._entries) >= MAX_BATCH_STATEMENTS:
            raise ValueError(
                f"Batch statement cannot contain more than {MAX_BATCH_STATEMENTS} statements."
            )
        self._entries.append(entry)

    def _update_state(self, statement: Statement) -> None:
        if self._routing_key is None and statement.keyspace and statement.routing_key:
            self._routing_key = statement.routing_key
            self.keyspace = statement.keyspace
        if statement.custom_payload:
            # a copy, so merging never writes into a dict the caller passed in
            merged = dict(self.custom_payload or {})
            merged.update(statement.custom_payload)
            self.custom_payload = merged

    def __repr__(self) -> str:
        return (
            f"<BatchStatement type={self.batch_type.name}, statements={len(self)}, "
            f"consistency={_level_name(self.consistency_level)}>"
        )

    __str__ = __repr__
