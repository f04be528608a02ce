"""Retry policies and the idempotence rule: decision tables, checked against cassandra-driver."""

from __future__ import annotations

import itertools
import pickle

import pytest

from greencql.cluster.policies import (
    DowngradingConsistencyRetryPolicy,
    FallthroughRetryPolicy,
    NeverRetryPolicy,
    RetryDecision,
    RetryPolicy,
    RetryPolicyProtocol,
    is_retry_safe,
    retry_decision,
)
from greencql.errors import (
    AlreadyExists,
    CASWriteUnknown,
    ConnectionBusy,
    ConnectionShutdown,
    FunctionFailure,
    InvalidRequest,
    IsBootstrapping,
    MalformedError,
    OperationTimedOut,
    Overloaded,
    ProtocolException,
    ReadFailure,
    ReadTimeout,
    ServerError,
    SyntaxException,
    Unauthorized,
    Unavailable,
    WriteFailure,
    WriteTimeout,
)
from greencql.protocol.constants import ConsistencyLevel as CL
from greencql.protocol.constants import WriteType

RETRY, RETHROW, IGNORE, NEXT = (
    RetryDecision.RETRY,
    RetryDecision.RETHROW,
    RetryDecision.IGNORE,
    RetryDecision.RETRY_NEXT_HOST,
)
Q = object()  # the statement: the default policies never look at it


def test_decision_values_match_cassandra_driver():
    from cassandra.policies import RetryPolicy as Theirs

    for name in ("RETRY", "RETHROW", "IGNORE", "RETRY_NEXT_HOST"):
        assert getattr(RetryPolicy, name) == getattr(Theirs, name) == RetryDecision[name]


# -- the default policy's documented table ---------------------------------------------------


@pytest.mark.parametrize(
    "required, received, data, retry_num, expected",
    [
        (2, 2, False, 0, (RETRY, CL.QUORUM)),  # enough answers, data missing: once more
        (2, 2, True, 0, (RETHROW, None)),  # data came, still timed out: give up
        (2, 1, False, 0, (RETHROW, None)),  # too few replicas answered
        (2, 3, False, 0, (RETRY, CL.QUORUM)),
        (2, 2, False, 1, (RETHROW, None)),  # only once
    ],
)
def test_default_read_timeout(required, received, data, retry_num, expected):
    got = RetryPolicy().on_read_timeout(Q, CL.QUORUM, required, received, data, retry_num)
    assert got == expected


@pytest.mark.parametrize("write_type", list(WriteType))
@pytest.mark.parametrize("retry_num", [0, 1])
def test_default_write_timeout(write_type, retry_num):
    got = RetryPolicy().on_write_timeout(Q, CL.LOCAL_QUORUM, write_type, 2, 1, retry_num)
    if write_type is WriteType.BATCH_LOG and retry_num == 0:
        assert got == (RETRY, CL.LOCAL_QUORUM)
    else:
        assert got == (RETHROW, None)
    # the wire gives strings; they mean the same
    again = RetryPolicy().on_write_timeout(Q, CL.LOCAL_QUORUM, write_type.value, 2, 1, retry_num)
    assert again == got


def test_default_write_timeout_unknown_write_type():
    assert RetryPolicy().on_write_timeout(Q, CL.ONE, "SOMETHING_NEW", 1, 0, 0) == (RETHROW, None)


def test_default_unavailable_and_request_error():
    p = RetryPolicy()
    assert p.on_unavailable(Q, CL.QUORUM, 2, 1, 0) == (NEXT, None)
    assert p.on_unavailable(Q, CL.QUORUM, 2, 1, 1) == (RETHROW, None)
    for err in (Overloaded(), ServerError(), ConnectionShutdown(), OperationTimedOut()):
        for n in (0, 1, 5):
            assert p.on_request_error(Q, CL.ONE, err, n) == (NEXT, None)


def test_fallthrough_never_retries():
    p = FallthroughRetryPolicy()
    assert NeverRetryPolicy is FallthroughRetryPolicy
    assert p.on_read_timeout(Q, CL.ONE, 1, 1, False, 0) == (RETHROW, None)
    assert p.on_write_timeout(Q, CL.ONE, WriteType.BATCH_LOG, 1, 0, 0) == (RETHROW, None)
    assert p.on_unavailable(Q, CL.ONE, 1, 0, 0) == (RETHROW, None)
    assert p.on_request_error(Q, CL.ONE, Overloaded(), 0) == (RETHROW, None)


@pytest.mark.parametrize(
    "policy", [RetryPolicy(), FallthroughRetryPolicy(), DowngradingConsistencyRetryPolicy()]
)
def test_policies_implement_the_protocol(policy):
    assert isinstance(policy, RetryPolicyProtocol)


# -- against cassandra-driver, exhaustively ----------------------------------------------------

_LEVELS = [CL.ONE, CL.QUORUM, CL.LOCAL_QUORUM, CL.ALL, CL.SERIAL, CL.LOCAL_SERIAL]


def _theirs(name):
    import cassandra.policies as cp

    return getattr(cp, name)()


def _their_write_type(wt: WriteType) -> int:
    from cassandra import WriteType as TheirWriteType

    return TheirWriteType.name_to_value[wt.value]


@pytest.mark.filterwarnings("ignore:DowngradingConsistencyRetryPolicy is deprecated")
@pytest.mark.parametrize(
    "ours, theirs",
    [
        (RetryPolicy(), "RetryPolicy"),
        (FallthroughRetryPolicy(), "FallthroughRetryPolicy"),
        (DowngradingConsistencyRetryPolicy(), "DowngradingConsistencyRetryPolicy"),
    ],
)
def test_same_decisions_as_cassandra_driver(ours, theirs):
    theirs = _theirs(theirs)
    counts = range(4)
    for cl, req, rec, data, n in itertools.product(_LEVELS, counts, counts, (False, True), (0, 1)):
        assert ours.on_read_timeout(Q, cl, req, rec, data, n) == theirs.on_read_timeout(
            Q, int(cl), req, rec, data, n
        ), (cl, req, rec, data, n)
    for cl, wt, req, rec, n in itertools.product(_LEVELS, WriteType, counts, counts, (0, 1)):
        assert ours.on_write_timeout(Q, cl, wt, req, rec, n) == theirs.on_write_timeout(
            Q, int(cl), _their_write_type(wt), req, rec, n
        ), (cl, wt, req, rec, n)
    for cl, req, alive, n in itertools.product(_LEVELS, counts, counts, (0, 1)):
        assert ours.on_unavailable(Q, cl, req, alive, n) == theirs.on_unavailable(
            Q, int(cl), req, alive, n
        ), (cl, req, alive, n)
    for err, n in itertools.product((Overloaded(), OperationTimedOut()), (0, 1)):
        assert ours.on_request_error(Q, CL.ONE, err, n) == theirs.on_request_error(Q, 1, err, n)


# -- the idempotence rule --------------------------------------------------------------------

# errors after which the statement may have been applied
_MAYBE_APPLIED = [
    WriteTimeout(
        "", consistency=CL.ONE, received_responses=0, required_responses=1, write_type="SIMPLE"
    ),
    OperationTimedOut("client timeout"),
    ConnectionShutdown("broke after send"),
    Overloaded(),
    ServerError(),
    WriteFailure(),
    ReadFailure(),
    CASWriteUnknown(),
]
# errors after which it certainly was not
_NOT_APPLIED = [
    Unavailable("", consistency=CL.QUORUM, required_replicas=2, alive_replicas=1),
    IsBootstrapping(),
    ConnectionBusy(),
    ReadTimeout(
        "", consistency=CL.ONE, received_responses=1, required_responses=1, data_retrieved=False
    ),
]


@pytest.mark.parametrize("error", _MAYBE_APPLIED, ids=lambda e: type(e).__name__)
def test_maybe_applied_needs_idempotence(error):
    assert is_retry_safe(error, idempotent=True)
    assert not is_retry_safe(error, idempotent=False)
    # never sent at all: always safe
    assert is_retry_safe(error, idempotent=False, request_sent=False)


@pytest.mark.parametrize("error", _NOT_APPLIED, ids=lambda e: type(e).__name__)
def test_not_applied_is_always_safe(error):
    assert is_retry_safe(error, idempotent=False)
    assert is_retry_safe(error, idempotent=True)


# -- retry_decision: dispatch and veto ------------------------------------------------------


class Recorder(RetryPolicy):
    """The default policy, recording which question it was asked and with what."""

    def __init__(self):
        self.calls = []

    def on_read_timeout(self, *args):
        self.calls.append(("read_timeout", args[1:]))
        return super().on_read_timeout(*args)

    def on_write_timeout(self, *args):
        self.calls.append(("write_timeout", args[1:]))
        return super().on_write_timeout(*args)

    def on_unavailable(self, *args):
        self.calls.append(("unavailable", args[1:]))
        return super().on_unavailable(*args)

    def on_request_error(self, *args):
        self.calls.append(("request_error", args[1:]))
        return super().on_request_error(*args)


def test_dispatch_passes_the_server_fields():
    p = Recorder()
    rt = ReadTimeout(
        "", consistency=CL.QUORUM, received_responses=2, required_responses=2, data_retrieved=False
    )
    assert retry_decision(p, Q, CL.QUORUM, rt, 0, idempotent=False) == (RETRY, CL.QUORUM)
    wt = WriteTimeout(
        "",
        consistency=CL.QUORUM,
        received_responses=1,
        required_responses=2,
        write_type="BATCH_LOG",
    )
    assert retry_decision(p, Q, CL.QUORUM, wt, 0, idempotent=True) == (RETRY, CL.QUORUM)
    un = Unavailable("", consistency=CL.QUORUM, required_replicas=2, alive_replicas=1)
    assert retry_decision(p, Q, CL.QUORUM, un, 0, idempotent=False) == (NEXT, None)
    ov = Overloaded("busy")
    assert retry_decision(p, Q, CL.ONE, ov, 3, idempotent=True) == (NEXT, None)
    assert p.calls == [
        ("read_timeout", (CL.QUORUM, 2, 2, False, 0)),
        ("write_timeout", (CL.QUORUM, "BATCH_LOG", 2, 1, 0)),
        ("unavailable", (CL.QUORUM, 2, 1, 0)),
        ("request_error", (CL.ONE, ov, 3)),
    ]


def test_missing_fields_default_sensibly():
    p = Recorder()
    assert retry_decision(p, Q, CL.ONE, ReadTimeout(), 0, idempotent=True) == (RETRY, CL.ONE)
    assert retry_decision(p, Q, CL.ONE, WriteTimeout(), 0, idempotent=True) == (RETHROW, None)
    assert p.calls[1] == ("write_timeout", (CL.ONE, WriteType.SIMPLE, 0, 0, 0))


@pytest.mark.parametrize(
    "error",
    [
        SyntaxException("bad"),
        InvalidRequest("no such table"),
        Unauthorized("no"),
        AlreadyExists("", keyspace="ks", table="t"),
        FunctionFailure(),
        ProtocolException("bad frame"),
        MalformedError("bad bytes"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_final_errors_are_rethrown_without_asking(error):
    p = Recorder()
    assert retry_decision(p, Q, CL.ONE, error, 0, idempotent=True) == (RETHROW, None)
    assert p.calls == []


# (error, idempotent, request_sent) -> decision under the default policy
_TABLE = [
    (Overloaded(), True, True, NEXT),
    (Overloaded(), False, True, RETHROW),
    (Overloaded(), False, False, NEXT),
    (OperationTimedOut(), True, True, NEXT),
    (OperationTimedOut(), False, True, RETHROW),
    (ConnectionShutdown(), False, True, RETHROW),
    (ConnectionShutdown(), False, False, NEXT),
    (ConnectionBusy(), False, True, NEXT),
    (IsBootstrapping(), False, True, NEXT),
    (ServerError(), False, True, RETHROW),
    (
        WriteTimeout("", write_type="BATCH_LOG", received_responses=0, required_responses=1),
        False,
        True,
        RETHROW,
    ),
    (
        WriteTimeout("", write_type="BATCH_LOG", received_responses=0, required_responses=1),
        True,
        True,
        RETRY,
    ),
    (Unavailable("", required_replicas=3, alive_replicas=1), False, True, NEXT),
    (
        ReadTimeout("", received_responses=1, required_responses=1, data_retrieved=False),
        False,
        True,
        RETRY,
    ),
]


@pytest.mark.parametrize("error, idempotent, sent, expected", _TABLE)
def test_idempotence_veto_table(error, idempotent, sent, expected):
    decision, _ = retry_decision(
        RetryPolicy(), Q, CL.ONE, error, 0, idempotent=idempotent, request_sent=sent
    )
    assert decision is expected


def test_ignore_is_never_vetoed():
    wt = WriteTimeout("", write_type="SIMPLE", received_responses=1, required_responses=2)
    p = DowngradingConsistencyRetryPolicy()
    assert retry_decision(p, Q, CL.QUORUM, wt, 0, idempotent=False) == (IGNORE, None)


def test_downgrade_veto_for_non_idempotent_unlogged_batch():
    wt = WriteTimeout("", write_type="UNLOGGED_BATCH", received_responses=2, required_responses=3)
    p = DowngradingConsistencyRetryPolicy()
    assert retry_decision(p, Q, CL.ALL, wt, 0, idempotent=True) == (RETRY, CL.TWO)
    assert retry_decision(p, Q, CL.ALL, wt, 0, idempotent=False) == (RETHROW, None)


def test_policies_pickle():
    for p in (RetryPolicy(), FallthroughRetryPolicy(), DowngradingConsistencyRetryPolicy()):
        assert type(pickle.loads(pickle.dumps(p))) is type(p)
