"""cassandra-driver's remaining policy classes, for applications that name them.

Owns: :class:`WhiteListRoundRobinPolicy`, :class:`WrapperPolicy`,
:class:`DefaultLoadBalancingPolicy` (a targeted host first), the conviction policies
(:class:`ConvictionPolicy`, :class:`SimpleConvictionPolicy`) and the address translators
(:class:`AddressTranslator`, :class:`IdentityTranslator`, :class:`EC2MultiRegionTranslator`).

Must not: read a clock or touch a socket, except :class:`EC2MultiRegionTranslator`, whose whole
job is a DNS round trip (as in cassandra-driver); the cluster calls it while it reads the
peers table, never on the request path.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable, Iterator
from typing import Any

from greencql.cluster.host import Host, HostDistance
from greencql.cluster.policies.loadbalancing import (
    HostFilterPolicy,
    LoadBalancingPolicy,
    PolicyContext,
    RoundRobinPolicy,
)

__all__ = [
    "WhiteListRoundRobinPolicy",
    "WrapperPolicy",
    "DefaultLoadBalancingPolicy",
    "ConvictionPolicy",
    "SimpleConvictionPolicy",
    "AddressTranslator",
    "IdentityTranslator",
    "EC2MultiRegionTranslator",
]

log = logging.getLogger("greencql.cluster.policies")


class WhiteListRoundRobinPolicy(HostFilterPolicy):
    """Round robin over the listed hosts only; every other host is IGNORED (no pool, never
    in a plan). ``hosts`` are addresses as the cluster sees them (``host.address``) or
    ``address:port`` endpoints. Unlike cassandra-driver, names are not resolved here (a
    policy does no IO): list the addresses the nodes advertise."""

    def __init__(self, hosts: Iterable[str]) -> None:
        allowed = frozenset(str(h) for h in hosts)
        if not allowed:
            raise ValueError("WhiteListRoundRobinPolicy needs at least one host")
        self._allowed_hosts = allowed
        super().__init__(RoundRobinPolicy(), self._allowed)

    def _allowed(self, host: Host) -> bool:
        allowed = self._allowed_hosts
        return host.address in allowed or str(host.endpoint) in allowed


class WrapperPolicy:
    """A load-balancing policy that delegates everything to ``child_policy``; subclasses
    override what they change."""

    def __init__(self, child_policy: LoadBalancingPolicy) -> None:
        self._child_policy = child_policy

    @property
    def child_policy(self) -> LoadBalancingPolicy:
        return self._child_policy

    def populate(self, hosts: Iterable[Host], context: PolicyContext | None = None) -> None:
        self._child_policy.populate(hosts, context)

    def distance(self, host: Host) -> HostDistance:
        return self._child_policy.distance(host)

    def make_query_plan(
        self, working_keyspace: str | None = None, query: object | None = None
    ) -> Iterator[Host]:
        return self._child_policy.make_query_plan(working_keyspace, query)

    def on_up(self, host: Host) -> None:
        self._child_policy.on_up(host)

    def on_down(self, host: Host) -> None:
        self._child_policy.on_down(host)

    def on_add(self, host: Host) -> None:
        self._child_policy.on_add(host)

    def on_remove(self, host: Host) -> None:
        self._child_policy.on_remove(host)


class DefaultLoadBalancingPolicy(WrapperPolicy):
    """The child's plan, except that a statement naming a host (``query.target_host``, an
    address or a :class:`Host`) goes to that host first when it is up."""

    def make_query_plan(
        self, working_keyspace: str | None = None, query: object | None = None
    ) -> Iterator[Host]:
        target = getattr(query, "target_host", None) if query is not None else None
        plan = self._child_policy.make_query_plan(working_keyspace, query)
        if target is None:
            return plan
        return self._targeted(target, plan)

    @staticmethod
    def _targeted(target: Any, plan: Iterator[Host]) -> Iterator[Host]:
        rest: list[Host] = []
        chosen: Host | None = None
        for host in plan:
            if chosen is None and (host == target or host.address == str(target)):
                chosen = host
            else:
                rest.append(host)
        if chosen is not None and chosen.is_up is not False:
            yield chosen
        yield from rest


class ConvictionPolicy:
    """Decides whether a connection failure marks a host down. One instance per host, made by
    ``Cluster(conviction_policy_factory=...)``. greencql's pools already mark a host down when
    its connections fail and reconnect with the reconnection policy: this is the hook
    cassandra-driver offers, kept for applications that pass one."""

    def __init__(self, host: Host) -> None:
        self.host = host

    def add_failure(self, connection_exc: BaseException) -> bool:
        """True when ``connection_exc`` should mark the host down."""
        raise NotImplementedError()

    def reset(self) -> None:
        """The host is up again: forget the failures counted so far."""
        raise NotImplementedError()


class SimpleConvictionPolicy(ConvictionPolicy):
    """Every connection failure marks the host down (cassandra-driver's default)."""

    def add_failure(self, connection_exc: BaseException) -> bool:
        return True

    def reset(self) -> None:
        pass


class AddressTranslator:
    """Maps the address a node advertises (``rpc_address`` in system.peers) to the address
    this client connects to (``Cluster(address_translator=...)``)."""

    def translate(self, addr: str) -> str:
        raise NotImplementedError()


class IdentityTranslator(AddressTranslator):
    """Connects to the advertised address (the default)."""

    def translate(self, addr: str) -> str:
        return addr


class EC2MultiRegionTranslator(AddressTranslator):
    """For clusters spanning EC2 regions: a node's public address is resolved back to its
    name and forward again, which inside EC2 gives the private address of nodes in the same
    region. Any lookup failure keeps the advertised address."""

    def translate(self, addr: str) -> str:
        family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        try:
            name = socket.gethostbyaddr(addr)[0]
            infos = socket.getaddrinfo(name, None, family, socket.SOCK_STREAM)
            translated = str(infos[0][4][0])
        except (OSError, IndexError) as exc:
            log.debug("EC2MultiRegionTranslator: keeping %s (%s)", addr, exc)
            return addr
        if translated != addr:
            log.debug("EC2MultiRegionTranslator: %s -> %s", addr, translated)
        return translated
