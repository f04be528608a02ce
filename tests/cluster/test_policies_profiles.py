"""Execution profiles: defaults (as cassandra-driver's), validation, immutability."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from greencql.cluster.policies import (
    ConstantSpeculativeExecutionPolicy,
    DCAwareRoundRobinPolicy,
    FallthroughRetryPolicy,
    NoSpeculativeExecutionPolicy,
    RetryPolicy,
    RoundRobinPolicy,
    TokenAwarePolicy,
)
from greencql.cluster.profiles import (
    DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_ROW_FACTORY,
    EXEC_PROFILE_DEFAULT,
    ExecutionProfile,
)
from greencql.protocol.constants import ConsistencyLevel as CL


def test_defaults_match_cassandra_driver():
    # cassandra.cluster.ExecutionProfile's documented defaults; importing cassandra.cluster here
    # would import its eventlet reactor into every hub's test process.
    ours = ExecutionProfile()
    assert ours.consistency_level is CL.LOCAL_ONE
    assert ours.serial_consistency_level is None
    assert ours.request_timeout == DEFAULT_REQUEST_TIMEOUT == 10.0
    assert ours.row_factory == DEFAULT_ROW_FACTORY == "named_tuple"
    assert isinstance(ours.load_balancing_policy, TokenAwarePolicy)
    assert isinstance(ours.load_balancing_policy.child_policy, DCAwareRoundRobinPolicy)
    assert type(ours.retry_policy) is RetryPolicy
    assert isinstance(ours.speculative_execution_policy, NoSpeculativeExecutionPolicy)


def test_each_profile_gets_its_own_load_balancing_policy():
    a, b = ExecutionProfile(), ExecutionProfile()
    assert a.load_balancing_policy is not b.load_balancing_policy


def test_frozen_and_replace():
    lbp = RoundRobinPolicy()
    p = ExecutionProfile(load_balancing_policy=lbp, consistency_level=CL.QUORUM)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.consistency_level = CL.ONE  # type: ignore[misc]
    q = p.replace(request_timeout=2, retry_policy=FallthroughRetryPolicy())
    assert q.request_timeout == 2.0 and isinstance(q.request_timeout, float)
    assert q.load_balancing_policy is lbp  # shared, not copied
    assert q.consistency_level is CL.QUORUM
    assert p.request_timeout == 10.0
    with pytest.raises(ValueError):
        p.replace(request_timeout=0)


def test_consistency_levels_are_coerced():
    p = ExecutionProfile(consistency_level=4, serial_consistency_level="local_serial")
    assert p.consistency_level is CL.QUORUM
    assert p.serial_consistency_level is CL.LOCAL_SERIAL
    assert ExecutionProfile(consistency_level="each_quorum").consistency_level is CL.EACH_QUORUM


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        ({"serial_consistency_level": CL.QUORUM}, ValueError),
        ({"consistency_level": "three_and_a_half"}, ValueError),
        ({"consistency_level": 99}, ValueError),
        ({"request_timeout": -1}, ValueError),
        ({"row_factory": 3}, TypeError),
        ({"load_balancing_policy": object()}, TypeError),
        ({"retry_policy": object()}, TypeError),
        ({"speculative_execution_policy": object()}, TypeError),
    ],
)
def test_validation(kwargs, exc):
    with pytest.raises(exc):
        ExecutionProfile(**kwargs)


def test_other_values_are_kept():
    def rows_as_lists(names, rows):
        return [list(r) for r in rows]

    spec = ConstantSpeculativeExecutionPolicy(0.1, 2)
    p = ExecutionProfile(
        request_timeout=None, row_factory=rows_as_lists, speculative_execution_policy=spec
    )
    assert p.request_timeout is None
    assert p.row_factory is rows_as_lists
    assert p.speculative_execution_policy is spec


def test_default_key_is_a_unique_sentinel():
    assert EXEC_PROFILE_DEFAULT != "default"
    assert repr(EXEC_PROFILE_DEFAULT) == "EXEC_PROFILE_DEFAULT"
    assert pickle.loads(pickle.dumps(EXEC_PROFILE_DEFAULT)) is EXEC_PROFILE_DEFAULT
    assert {EXEC_PROFILE_DEFAULT: 1}[EXEC_PROFILE_DEFAULT] == 1
