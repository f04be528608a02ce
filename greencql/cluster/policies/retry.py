"""Retry policies: what to do when a request fails, and when re-sending is safe at all.

Owns: :class:`RetryDecision`, the :class:`RetryPolicy` family (cassandra-driver's methods,
signatures and default decisions), the idempotence rule (:func:`is_retry_safe`) and
:func:`retry_decision`, the one pure function the session calls with the error it got: it picks
the policy method, then vetoes any re-send the idempotence rule forbids.

Must not: wait, count time, pick the next host or touch connections. A decision is a value;
the session acts on it. ``Unprepared`` is not a retry question (the session re-prepares and
re-sends on the same host) and must be handled before calling :func:`retry_decision`.

Why the idempotence rule exists: once a request may have reached a server (a server-side write
timeout, the client's own timeout, a connection that broke after the frame was written, an
overloaded or failing coordinator), re-sending it may apply it twice. Counter increments,
list appends and lightweight transactions are not safe to apply twice, so only statements the
user marked idempotent are re-sent after such errors (the Java driver 4's rule).
cassandra-driver only checks idempotence for speculative executions.
"""

from __future__ import annotations

import enum
from typing import Any, Protocol, runtime_checkable

from greencql.errors import (
    ConnectionBusy,
    FunctionFailure,
    IsBootstrapping,
    ProtocolError,
    ProtocolException,
    ReadTimeout,
    RequestValidationException,
    Unavailable,
    WriteTimeout,
)
from greencql.protocol.constants import ConsistencyLevel, WriteType

__all__ = [
    "RetryDecision",
    "RetryVerdict",
    "RetryPolicyProtocol",
    "RetryPolicy",
    "FallthroughRetryPolicy",
    "NeverRetryPolicy",
    "DowngradingConsistencyRetryPolicy",
    "is_retry_safe",
    "retry_decision",
]


class RetryDecision(enum.IntEnum):
    """What the session does after an error. Values match cassandra-driver's
    ``RetryPolicy.RETRY`` etc., so code comparing against either keeps working."""

    #: re-send on the same host (the coordinator is fine; the replicas were slow)
    RETRY = 0
    #: give the error to the caller
    RETHROW = 1
    #: give the caller an empty result instead of the error
    IGNORE = 2
    #: re-send on the next host of the query plan
    RETRY_NEXT_HOST = 3


#: ``(decision, consistency)``: the consistency level to re-send at, or ``None`` to keep the
#: statement's own (always ``None`` with RETHROW and IGNORE).
RetryVerdict = tuple[RetryDecision, ConsistencyLevel | None]

_RETHROW: RetryVerdict = (RetryDecision.RETHROW, None)
_NEXT_HOST: RetryVerdict = (RetryDecision.RETRY_NEXT_HOST, None)


@runtime_checkable
class RetryPolicyProtocol(Protocol):
    """The four questions a retry policy answers; each returns a :data:`RetryVerdict`.
    ``retry_num`` counts the retries already made for this request (0 on the first error)."""

    def on_read_timeout(
        self,
        query: Any,
        consistency: ConsistencyLevel,
        required_responses: int,
        received_responses: int,
        data_retrieved: bool,
        retry_num: int,
    ) -> RetryVerdict: ...

    def on_write_timeout(
        self,
        query: Any,
        consistency: ConsistencyLevel,
        write_type: WriteType | str,
        required_responses: int,
        received_responses: int,
        retry_num: int,
    ) -> RetryVerdict: ...

    def on_unavailable(
        self,
        query: Any,
        consistency: ConsistencyLevel,
        required_replicas: int,
        alive_replicas: int,
        retry_num: int,
    ) -> RetryVerdict: ...

    def on_request_error(
        self, query: Any, consistency: ConsistencyLevel, error: BaseException, retry_num: int
    ) -> RetryVerdict: ...


def _write_type(value: WriteType | str) -> WriteType | str:
    try:
        return WriteType(value)
    except ValueError:
        return value  # a write type newer than this driver: no rule matches it


class RetryPolicy:
    """cassandra-driver's default policy: retry only where a retry has a real chance and
    cannot hurt.

    - read timeout: retry once on the same host if enough replicas answered but the one asked
      for data did not (the coordinator will most likely get it the second time);
    - write timeout: retry once, only for BATCH_LOG (the batch log write is idempotent and
      nothing was applied yet); any other write may have been applied;
    - unavailable: try the next host once (this coordinator's view of the ring may be wrong);
    - request error (overloaded, bootstrapping, server error, connection broken, client
      timeout): next host. ``retry_num`` is not consulted, as in cassandra-driver: the query
      plan's length bounds these retries.
    """

    RETRY = RetryDecision.RETRY
    RETHROW = RetryDecision.RETHROW
    IGNORE = RetryDecision.IGNORE
    RETRY_NEXT_HOST = RetryDecision.RETRY_NEXT_HOST

    def on_read_timeout(
        self,
        query: Any,
        consistency: ConsistencyLevel,
        required_responses: int,
        received_responses: int,
        data_retrieved: bool,
        retry_num: int,
    ) -> RetryVerdict:
        if retry_num == 0 and received_responses >= required_responses and not data_retrieved:
            return RetryDecision.RETRY, consistency
        return _RETHROW

    def on_write_timeout(
        self,
        query: Any,
        consistency: ConsistencyLevel,
        write_type: WriteType | str,
        required_responses: int,
        received_responses: int,
        retry_num: int,
    ) -> RetryVerdict:
        if retry_num == 0 and _write_type(write_type) is WriteType.BATCH_LOG:
            return RetryDecision.RETRY, consistency
        return _RETHROW

    def on_unavailable(
        self,
        query: Any,
        consistency: ConsistencyLevel,
        required_replicas: int,
        alive_replicas: int,
        retry_num: int,
    ) -> RetryVerdict:
        return _NEXT_HOST if retry_num == 0 else _RETHROW

    def on_request_error(
        self, query: Any, consistency: ConsistencyLevel, error: BaseException, retry_num: int
    ) -> RetryVerdict:
        return _NEXT_HOST


class FallthroughRetryPolicy(RetryPolicy):
    """Never retries: every error goes to the caller (who then owns all retrying)."""

    def on_read_timeout(self, *args: Any, **kwargs: Any) -> RetryVerdict:
        return _RETHROW

    def on_write_timeout(self, *args: Any, **kwargs: Any) -> RetryVerdict:
        return _RETHROW

    def on_unavailable(self, *args: Any, **kwargs: Any) -> RetryVerdict:
        return _RETHROW

    def on_request_error(self, *args: Any, **kwargs: Any) -> RetryVerdict:
        return _RETHROW


#: cassandra-driver's other name for a policy that never retries
NeverRetryPolicy = FallthroughRetryPolicy


class DowngradingConsistencyRetryPolicy(RetryPolicy):
    """Retries at a *lower* consistency level when the requested one cannot be met.

    Beware: this trades consistency for availability (a QUORUM read may then miss a QUORUM
    write). On top of :class:`RetryPolicy`: a read timeout with too few answers is retried at
    the level those answers can satisfy (THREE, TWO or ONE); a write timeout of a SIMPLE, BATCH
    or COUNTER write that reached at least one replica is ignored (the data is persisted
    somewhere), an UNLOGGED_BATCH is retried at the level the acknowledgements allow; an
    unavailable error is retried at the level the alive replicas allow (or on the next host for
    SERIAL levels, whose paxos phase failed). Serial reads are never downgraded.
    cassandra-driver deprecates this policy; it is kept for ported code.
    """

    @staticmethod
    def _downgrade(responses: int) -> RetryVerdict:
        if responses >= 3:
            return RetryDecision.RETRY, ConsistencyLevel.THREE
        if responses == 2:
            return RetryDecision.RETRY, ConsistencyLevel.TWO
        if responses == 1:
            return RetryDecision.RETRY, ConsistencyLevel.ONE
        return _RETHROW

    def on_read_timeout(
        self,
        query: Any,
        consistency: ConsistencyLevel,
        required_responses: int,
        received_responses: int,
        data_retrieved: bool,
        retry_num: int,
    ) -> RetryVerdict:
        if retry_num != 0 or ConsistencyLevel(consistency).is_serial:
            return _RETHROW
        if received_responses < required_responses:
            return self._downgrade(received_responses)
        if not data_retrieved:
            return RetryDecision.RETRY, consistency
        return _RETHROW

    def on_write_timeout(
        self,
        query: Any,
        consistency: ConsistencyLevel,
        write_type: WriteType | str,
        required_responses: int,
        received_responses: int,
        retry_num: int,
    ) -> RetryVerdict:
        if retry_num != 0:
            return _RETHROW
        wt = _write_type(write_type)
        if wt in (WriteType.SIMPLE, WriteType.BATCH, WriteType.COUNTER):
            return (RetryDecision.IGNORE, None) if received_responses > 0 else _RETHROW
        if wt is WriteType.UNLOGGED_BATCH:
            return self._downgrade(received_responses)
        if wt is WriteType.BATCH_LOG:
            return RetryDecision.RETRY, consistency
        return _RETHROW

    def on_unavailable(
        self,
        query: Any,
        consistency: ConsistencyLevel,
        required_replicas: int,
        alive_replicas: int,
        retry_num: int,
    ) -> RetryVerdict:
        if retry_num != 0:
            return _RETHROW
        if ConsistencyLevel(consistency).is_serial:
            return _NEXT_HOST
        return self._downgrade(alive_replicas)


# Errors after which the statement was certainly not applied, whatever it was: the coordinator
# refused it before executing (Unavailable: not enough replicas alive; IsBootstrapping: not
# ready to coordinate) or it never left this client (no free stream id).
_NOT_APPLIED = (Unavailable, IsBootstrapping, ConnectionBusy)

# Errors no retry can cure: the request itself is wrong, or bytes went bad on the wire.
_FINAL = (RequestValidationException, FunctionFailure, ProtocolException, ProtocolError)


def is_retry_safe(error: BaseException, *, idempotent: bool, request_sent: bool = True) -> bool:
    """May a request that failed with ``error`` be sent again without risking a double apply?

    Always, for statements marked idempotent. Otherwise only when it certainly was not applied:
    it was never written to a socket (``request_sent=False``: no connection, no stream id,
    throttled), the coordinator refused it before execution (Unavailable, IsBootstrapping), or
    it was a read that timed out (ReadTimeout: nothing was written). After a WriteTimeout, the
    client's own OperationTimedOut, a connection broken after the send, Overloaded, ServerError
    or a Read/WriteFailure, a non-idempotent statement must not be re-sent.
    """
    if idempotent or not request_sent:
        return True
    return isinstance(error, (*_NOT_APPLIED, ReadTimeout))


def retry_decision(
    policy: RetryPolicyProtocol,
    query: Any,
    consistency: ConsistencyLevel,
    error: BaseException,
    retry_num: int,
    *,
    idempotent: bool,
    request_sent: bool = True,
) -> RetryVerdict:
    """The session's one call after a failed attempt: ask ``policy`` the question that fits
    ``error``, then veto re-sends that :func:`is_retry_safe` forbids.

    Validation errors (syntax, invalid, unauthorized, ...), function failures and protocol
    errors are rethrown without asking the policy: retrying cannot fix them. Server read/write
    timeouts and unavailable errors go to their own method with the fields the server sent;
    everything else (overloaded, server error, failures, connection errors, the client's own
    timeout) goes to ``on_request_error``. An IGNORE decision is never vetoed: it sends nothing.
    """
    if isinstance(error, _FINAL):
        return _RETHROW
    if isinstance(error, ReadTimeout):
        verdict = policy.on_read_timeout(
            query,
            consistency,
            _field(error, "required_responses", 0),
            _field(error, "received_responses", 0),
            bool(_field(error, "data_retrieved", False)),
            retry_num,
        )
    elif isinstance(error, WriteTimeout):
        verdict = policy.on_write_timeout(
            query,
            consistency,
            _field(error, "write_type", WriteType.SIMPLE),
            _field(error, "required_responses", 0),
            _field(error, "received_responses", 0),
            retry_num,
        )
    elif isinstance(error, Unavailable):
        verdict = policy.on_unavailable(
            query,
            consistency,
            _field(error, "required_replicas", 0),
            _field(error, "alive_replicas", 0),
            retry_num,
        )
    else:
        verdict = policy.on_request_error(query, consistency, error, retry_num)
    decision = RetryDecision(verdict[0])
    if decision in (RetryDecision.RETRY, RetryDecision.RETRY_NEXT_HOST) and not is_retry_safe(
        error, idempotent=idempotent, request_sent=request_sent
    ):
        return _RETHROW
    return decision, verdict[1]


def _field(error: BaseException, name: str, default: Any) -> Any:
    value = getattr(error, name, None)
    return default if value is None else value
