"""Load-balancing policies: which hosts a request tries, in which order, and how near each is.

Owns: the :class:`LoadBalancingPolicy` protocol and its implementations
(:class:`RoundRobinPolicy`, :class:`DCAwareRoundRobinPolicy`, :class:`RackAwareRoundRobinPolicy`,
:class:`TokenAwarePolicy`, :class:`HostFilterPolicy`), the :class:`PolicyContext` value through
which the cluster hands a policy its contact points and a replica lookup, and
:func:`default_load_balancing_policy`.

Must not: read a clock, touch a socket, or know how replicas are computed. The token ring lives
in :mod:`greencql.cluster.tokens`; token awareness only calls the ``replicas(keyspace,
routing_key)`` function the cluster puts in the context.

A query plan is built for every request, so plans are cheap: each policy keeps its live hosts
in tuples that are swapped whole on change (a plan iterates a snapshot, never a list being
mutated), and round robin is a shared counter plus an offset, never a sort or a shuffle. Host
changes take a lock so that an OS-thread program (the thread hub) cannot lose an update; plans
take none (a lost counter increment only shifts the rotation, as in cassandra-driver).
Behaviour follows cassandra-driver's ``cassandra.policies``, with the Java driver 4's choices
where noted.
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from greencql.cluster.host import EndPoint, Host, HostDistance
from greencql.pool.forksafety import rng as _rng

__all__ = [
    "ReplicaLookup",
    "PolicyContext",
    "LoadBalancingPolicy",
    "RoundRobinPolicy",
    "DCAwareRoundRobinPolicy",
    "RackAwareRoundRobinPolicy",
    "TokenAwarePolicy",
    "HostFilterPolicy",
    "default_load_balancing_policy",
]

log = logging.getLogger("greencql.cluster.policies")

#: ``replicas(keyspace, routing_key) -> hosts``: the replicas of the partition a serialized
#: routing key falls in, primary first, as the cluster's token map computes them.
ReplicaLookup = Callable[[str, bytes], Sequence[Host]]


# module globals: the hot paths compare against them without an attribute lookup
_LOCAL = HostDistance.LOCAL
_LOCAL_RACK = HostDistance.LOCAL_RACK
# bound of TokenAwarePolicy's distance cache (one entry per host seen as a replica)
_MAX_CACHED_DISTANCES = 4096


@dataclass(frozen=True)
class PolicyContext:
    """What the cluster tells a policy when it populates it.

    A value, not the Cluster object, so that policies depend on two things only: the contact
    points the user gave (used to guess the local datacenter) and a replica lookup (used for
    token awareness). Tests build one by hand. ``contact_points`` are the *resolved*
    endpoints (IP and port, in the user's order), so they compare equal to the endpoints of the
    hosts read from system.local/system.peers; ``replicas`` is usually the token map's lookup.
    """

    contact_points: tuple[EndPoint, ...] = ()
    replicas: ReplicaLookup | None = None


_EMPTY_CONTEXT = PolicyContext()


@runtime_checkable
class LoadBalancingPolicy(Protocol):
    """Decides the order in which a request tries hosts and how near each host is.

    ``populate`` is called once, with every known host, before the first plan; the
    ``on_*`` methods keep the policy's view current afterwards (``on_add``: a node joined and is
    considered up; ``on_remove``: it left the ring). ``make_query_plan`` takes the session's
    working keyspace and the statement (or ``None``, e.g. when preparing) and returns an iterator
    of hosts; the statement is read only through ``keyspace`` and ``routing_key`` attributes.
    """

    def populate(self, hosts: Iterable[Host], context: PolicyContext | None = None) -> None: ...

    def distance(self, host: Host) -> HostDistance: ...

    def make_query_plan(
        self, working_keyspace: str | None = None, query: object | None = None
    ) -> Iterator[Host]: ...

    def on_up(self, host: Host) -> None: ...

    def on_down(self, host: Host) -> None: ...

    def on_add(self, host: Host) -> None: ...

    def on_remove(self, host: Host) -> None: ...


def _rotated(hosts: tuple[Host, ...], start: int) -> Iterator[Host]:
    """All of ``hosts`` once, starting at ``start`` modulo their number."""
    n = len(hosts)
    if not n:
        return
    start %= n
    yield from hosts[start:]
    yield from hosts[:start]


def _start_index(rng: random.Random | None, n: int) -> int:
    # A random first offset so that many clients started at once do not all pick the same host
    # first (cassandra-driver does the same).
    return (rng or _rng).randrange(n) if n > 1 else 0


class RoundRobinPolicy:
    """Every live host, in turn, regardless of datacenter. Every host is LOCAL.

    Use only for single-datacenter clusters: in several datacenters it sends requests across
    the WAN. ``rng`` seeds the starting offset (tests pass a seeded ``random.Random``).
    """

    def __init__(self, *, rng: random.Random | None = None) -> None:
        self._rng = rng
        self._live: tuple[Host, ...] = ()
        self._counter = itertools.count()
        self._lock = threading.Lock()

    def populate(self, hosts: Iterable[Host], context: PolicyContext | None = None) -> None:
        live = tuple(dict.fromkeys(h for h in hosts if h.is_up is not False))
        with self._lock:
            self._live = live
            self._counter = itertools.count(_start_index(self._rng, len(live)))

    def distance(self, host: Host) -> HostDistance:
        return HostDistance.LOCAL

    def make_query_plan(
        self, working_keyspace: str | None = None, query: object | None = None
    ) -> Iterator[Host]:
        return _rotated(self._live, next(self._counter))

    def on_up(self, host: Host) -> None:
        with self._lock:
            if host not in self._live:
                self._live = (*self._live, host)

    def on_down(self, host: Host) -> None:
        with self._lock:
            if host in self._live:
                self._live = tuple(h for h in self._live if h != host)

    def on_add(self, host: Host) -> None:
        self.on_up(host)

    def on_remove(self, host: Host) -> None:
        self.on_down(host)


class _DatacenterHosts:
    """Live hosts grouped by datacenter, with copy-on-write tuples, for the DC-aware policies."""

    def __init__(self) -> None:
        self.by_dc: dict[str | None, tuple[Host, ...]] = {}
        self.lock = threading.Lock()

    def reset(self, hosts: Iterable[Host]) -> None:
        by_dc: dict[str | None, tuple[Host, ...]] = {}
        for h in dict.fromkeys(hosts):
            if h.is_up is not False:
                by_dc[h.datacenter] = (*by_dc.get(h.datacenter, ()), h)
        with self.lock:
            self.by_dc = by_dc

    def add(self, host: Host) -> None:
        with self.lock:
            current = self.by_dc.get(host.datacenter, ())
            if host not in current:
                by_dc = dict(self.by_dc)
                by_dc[host.datacenter] = (*current, host)
                self.by_dc = by_dc

    def discard(self, host: Host) -> None:
        # Looks in every datacenter: the host's datacenter may have been rewritten since it was
        # added, and there are only a handful of datacenters.
        with self.lock:
            by_dc = {}
            for dc, hosts in self.by_dc.items():
                kept = tuple(h for h in hosts if h != host) if host in hosts else hosts
                if kept:
                    by_dc[dc] = kept
            self.by_dc = by_dc


def _remote_distance(
    groups: dict[str | None, tuple[Host, ...]], host: Host, used_per_remote_dc: int
) -> HostDistance:
    # Only the first ``used_per_remote_dc`` live hosts of a remote datacenter are REMOTE (they
    # get pools and appear in plans); the rest are IGNORED, as in cassandra-driver.
    if used_per_remote_dc <= 0:
        return HostDistance.IGNORED
    if host in groups.get(host.datacenter, ())[:used_per_remote_dc]:
        return HostDistance.REMOTE
    return HostDistance.IGNORED


def _remote_plan(
    groups: dict[str | None, tuple[Host, ...]], local: set[str | None], used_per_remote_dc: int
) -> Iterator[Host]:
    if used_per_remote_dc <= 0:
        return
    for dc, hosts in groups.items():
        if dc not in local:
            yield from hosts[:used_per_remote_dc]


class DCAwareRoundRobinPolicy:
    """Round robin over the live hosts of the local datacenter; then, as a last resort, the
    first ``used_hosts_per_remote_dc`` live hosts of each remote datacenter (none by default,
    so a local outage never silently turns into cross-datacenter traffic).

    When ``local_dc`` is not given it is taken from the first contact point (in the context's
    order) that matches a populated host with a known datacenter; failing that, from the first
    populated host with a datacenter (the cluster lists the control connection's host first);
    failing that, from the first contact point (or host) that comes up later. A notice is
    logged under ``greencql.cluster.policies``: contact points should then all be in the local
    datacenter. A host whose datacenter is unknown counts as local.
    """

    def __init__(
        self,
        local_dc: str | None = None,
        used_hosts_per_remote_dc: int = 0,
        *,
        rng: random.Random | None = None,
    ) -> None:
        if used_hosts_per_remote_dc < 0:
            raise ValueError("used_hosts_per_remote_dc may not be negative")
        self.local_dc: str | None = local_dc or None
        self.used_hosts_per_remote_dc = used_hosts_per_remote_dc
        self._rng = rng
        self._hosts = _DatacenterHosts()
        self._counter = itertools.count()
        # local_dc still to be inferred from a host coming up (also if never populated)
        self._pending = self.local_dc is None
        self._pending_contact_points: frozenset[EndPoint] = frozenset()

    def populate(self, hosts: Iterable[Host], context: PolicyContext | None = None) -> None:
        hosts = list(hosts)
        context = context or _EMPTY_CONTEXT
        if self.local_dc is None:
            self._infer_local_dc(hosts, context.contact_points)
        self._hosts.reset(hosts)
        local = self._hosts.by_dc.get(self.local_dc, ())
        self._counter = itertools.count(_start_index(self._rng, len(local)))

    def _infer_local_dc(self, hosts: list[Host], contact_points: Sequence[EndPoint]) -> None:
        by_endpoint = {h.endpoint: h for h in hosts}
        for endpoint in contact_points:
            host = by_endpoint.get(endpoint)
            if host is not None and host.datacenter:
                self._adopt_local_dc(host, "contact point")
                return
        for host in hosts:
            if host.datacenter:
                # Contact points given as unresolved names match no host; the cluster lists the
                # control connection's host (itself a contact point) first.
                self._adopt_local_dc(host, "first known host, no contact point matched")
                return
        # Nothing known yet: the first host seen up with a datacenter decides (a contact point
        # if there are any).
        self._pending_contact_points = frozenset(contact_points)
        self._pending = True

    def _adopt_local_dc(self, host: Host, why: str) -> None:
        self.local_dc = host.datacenter
        self._pending = False
        self._pending_contact_points = frozenset()
        log.info(
            "Using datacenter %r as local for %s (from %s %s); if incorrect, pass local_dc= "
            "to the policy or give only contact points in the local datacenter",
            self.local_dc,
            type(self).__name__,
            why,
            host.endpoint,
        )

    def _is_local(self, dc: str | None) -> bool:
        return dc is None or dc == self.local_dc

    def distance(self, host: Host) -> HostDistance:
        # _is_local inlined: a token-aware plan asks this of every replica of every request
        dc = host.datacenter
        if dc is None or dc == self.local_dc:
            return _LOCAL
        return _remote_distance(self._hosts.by_dc, host, self.used_hosts_per_remote_dc)

    def make_query_plan(
        self, working_keyspace: str | None = None, query: object | None = None
    ) -> Iterator[Host]:
        groups = self._hosts.by_dc  # one snapshot for the whole plan
        pos = next(self._counter)
        yield from _rotated(groups.get(self.local_dc, ()), pos)
        if self.local_dc is not None:
            yield from _rotated(groups.get(None, ()), pos)
        yield from _remote_plan(groups, {self.local_dc, None}, self.used_hosts_per_remote_dc)

    def on_up(self, host: Host) -> None:
        if self._pending and host.datacenter:
            cps = self._pending_contact_points
            if not cps or host.endpoint in cps:
                self._adopt_local_dc(host, "contact point" if cps else "first host up")
        self._hosts.add(host)

    def on_down(self, host: Host) -> None:
        self._hosts.discard(host)

    def on_add(self, host: Host) -> None:
        self.on_up(host)

    def on_remove(self, host: Host) -> None:
        self.on_down(host)


class RackAwareRoundRobinPolicy:
    """Like :class:`DCAwareRoundRobinPolicy`, but within the local datacenter the hosts of the
    local rack come first (LOCAL_RACK), then the other local hosts (LOCAL), then the remote
    ones. Saves cross-rack (often cross-availability-zone, billed) traffic. Both ``local_dc`` and
    ``local_rack`` are required: guessing a rack from a contact point is too easily wrong.
    """

    def __init__(
        self,
        local_dc: str,
        local_rack: str,
        used_hosts_per_remote_dc: int = 0,
        *,
        rng: random.Random | None = None,
    ) -> None:
        if not local_dc or not local_rack:
            raise ValueError("RackAwareRoundRobinPolicy needs both local_dc and local_rack")
        if used_hosts_per_remote_dc < 0:
            raise ValueError("used_hosts_per_remote_dc may not be negative")
        self.local_dc = local_dc
        self.local_rack = local_rack
        self.used_hosts_per_remote_dc = used_hosts_per_remote_dc
        self._rng = rng
        self._hosts = _DatacenterHosts()
        self._counter = itertools.count()

    def populate(self, hosts: Iterable[Host], context: PolicyContext | None = None) -> None:
        self._hosts.reset(hosts)
        local = self._hosts.by_dc.get(self.local_dc, ())
        self._counter = itertools.count(_start_index(self._rng, len(local)))

    def distance(self, host: Host) -> HostDistance:
        dc = host.datacenter
        if dc is None or dc == self.local_dc:
            return HostDistance.LOCAL_RACK if host.rack == self.local_rack else HostDistance.LOCAL
        return _remote_distance(self._hosts.by_dc, host, self.used_hosts_per_remote_dc)

    def make_query_plan(
        self, working_keyspace: str | None = None, query: object | None = None
    ) -> Iterator[Host]:
        groups = self._hosts.by_dc
        pos = next(self._counter)
        # Splitting the local datacenter per plan is linear in its size (no sort); a cache keyed
        # by the snapshot would save little for the datacenter sizes seen in practice.
        local = groups.get(self.local_dc, ()) + groups.get(None, ())
        same_rack = tuple(h for h in local if h.rack == self.local_rack)
        other_racks = tuple(h for h in local if h.rack != self.local_rack)
        yield from _rotated(same_rack, pos)
        yield from _rotated(other_racks, pos)
        yield from _remote_plan(groups, {self.local_dc, None}, self.used_hosts_per_remote_dc)

    def on_up(self, host: Host) -> None:
        self._hosts.add(host)

    def on_down(self, host: Host) -> None:
        self._hosts.discard(host)

    def on_add(self, host: Host) -> None:
        self.on_up(host)

    def on_remove(self, host: Host) -> None:
        self.on_down(host)


def _shuffle(items: list[Host], random_float: Callable[[], float]) -> None:
    """Fisher-Yates with one float draw per swap: random.shuffle's exact integer draws cost
    more than the rest of a token-aware plan, and a replica list is only a few hosts long."""
    if len(items) == 3:  # RF 3 in one datacenter: the loop below unrolled, same draws
        j = int(random_float() * 3)
        items[2], items[j] = items[j], items[2]
        j = int(random_float() * 2)
        items[1], items[j] = items[j], items[1]
        return
    for i in range(len(items) - 1, 0, -1):
        j = int(random_float() * (i + 1))
        items[i], items[j] = items[j], items[i]


class _Rest(tuple):  # type: ignore[type-arg]
    """The rest of a token-aware plan after its replicas: (child policy, replicas given,
    keyspace, query). Made with tuple's C constructor; ``iter()`` (by the plan's chain, only
    once the replicas are used up, which most requests never do) starts the child's plan."""

    __slots__ = ()

    def __iter__(self) -> Iterator[Host]:
        # by index: unpacking would iterate, i.e. call this very method
        seen = set(self[1])
        for host in self[0].make_query_plan(self[2], self[3]):
            if host not in seen:
                yield host


class TokenAwarePolicy:
    """Sends a request to a replica of its partition first, saving the coordinator a hop.

    For a statement with a routing key and a keyspace (its own, else the session's), the live
    replicas the child calls LOCAL_RACK come first, then those it calls LOCAL (shuffled within
    each group when ``shuffle_replicas``, which spreads a hot partition over its replicas);
    then the child's own plan, without the hosts already given. Replicas the child calls REMOTE
    or IGNORED are not promoted: a remote replica is no better a coordinator than a local
    non-replica. Without routing information the child's plan is used as is.

    Replicas come from ``replicas`` (given here, or by the cluster through
    :class:`PolicyContext`); the policy knows nothing of token rings.
    """

    def __init__(
        self,
        child_policy: LoadBalancingPolicy,
        shuffle_replicas: bool = True,
        *,
        replicas: ReplicaLookup | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._child = child_policy
        self.shuffle_replicas = shuffle_replicas
        self._replicas = replicas
        self._rng = rng or _rng
        # The child's distance of each replica seen, by id(host): (host, its datacenter
        # then, distance). Asked of every replica of every request, it only changes with
        # the hosts (on_* and populate clear it) or when a host's datacenter is rewritten
        # (checked per use). Keyed by id, not by host: a Host hashes in Python.
        self._distances: dict[int, tuple[Host, str | None, HostDistance]] = {}

    @property
    def child_policy(self) -> LoadBalancingPolicy:
        return self._child

    def populate(self, hosts: Iterable[Host], context: PolicyContext | None = None) -> None:
        if context is not None and context.replicas is not None:
            self._replicas = context.replicas
        self._child.populate(hosts, context)
        self._distances = {}

    def distance(self, host: Host) -> HostDistance:
        return self._child.distance(host)

    def make_query_plan(
        self, working_keyspace: str | None = None, query: object | None = None
    ) -> Iterator[Host]:
        if query is None:
            return self._child.make_query_plan(working_keyspace, query)
        # _routing() inlined: once per request
        keyspace = getattr(query, "keyspace", None) or working_keyspace
        routing_key = getattr(query, "routing_key", None)
        lookup = self._replicas
        if routing_key is None or keyspace is None or lookup is None:
            return self._child.make_query_plan(working_keyspace, query)
        # The replicas are sorted here, at once, with cached distances; the plan is a chain
        # of that list and a generator not started until the list is used up: the first
        # host (usually the only one a request needs) costs no generator step.
        distances = self._distances
        near: list[Host] = []
        local: list[Host] = []
        for host in lookup(keyspace, routing_key):
            if host.is_up is False:
                continue
            entry = distances.get(id(host))
            if entry is None or entry[0] is not host or entry[1] != host._datacenter:
                d = self._child.distance(host)
                if len(distances) > _MAX_CACHED_DISTANCES:
                    distances.clear()
                distances[id(host)] = (host, host._datacenter, d)
            else:
                d = entry[2]
            if d == _LOCAL_RACK:
                near.append(host)
            elif d == _LOCAL:
                local.append(host)
        if self.shuffle_replicas:
            random_float = self._rng.random
            if len(near) > 1:
                _shuffle(near, random_float)
            n = len(local)
            if n == 3:  # _shuffle's RF 3 case, inlined: the same draws
                j = int(random_float() * 3)
                local[2], local[j] = local[j], local[2]
                j = int(random_float() * 2)
                local[1], local[j] = local[j], local[1]
            elif n > 1:
                _shuffle(local, random_float)
        if near:
            near += local
            local = near
        return itertools.chain(local, _Rest((self._child, local, working_keyspace, query)))

    def on_up(self, host: Host) -> None:
        self._child.on_up(host)
        self._distances = {}

    def on_down(self, host: Host) -> None:
        self._child.on_down(host)
        self._distances = {}

    def on_add(self, host: Host) -> None:
        self._child.on_add(host)
        self._distances = {}

    def on_remove(self, host: Host) -> None:
        self._child.on_remove(host)
        self._distances = {}


class HostFilterPolicy:
    """Keeps the hosts ``predicate(host)`` accepts, delegating everything else to the child.

    Refused hosts are IGNORED (no pool, never in a plan). Unlike cassandra-driver, refused hosts
    are never shown to the child at all, so the child's round robin stays even over the accepted
    hosts instead of favouring the host after each refused one. The predicate must not change
    its mind about a host while the host is known.
    """

    def __init__(self, child_policy: LoadBalancingPolicy, predicate: Callable[[Host], bool]):
        self._child = child_policy
        self._predicate = predicate

    @property
    def child_policy(self) -> LoadBalancingPolicy:
        return self._child

    @property
    def predicate(self) -> Callable[[Host], bool]:
        return self._predicate

    def populate(self, hosts: Iterable[Host], context: PolicyContext | None = None) -> None:
        self._child.populate([h for h in hosts if self._predicate(h)], context)

    def distance(self, host: Host) -> HostDistance:
        if self._predicate(host):
            return self._child.distance(host)
        return HostDistance.IGNORED

    def make_query_plan(
        self, working_keyspace: str | None = None, query: object | None = None
    ) -> Iterator[Host]:
        predicate = self._predicate
        return (h for h in self._child.make_query_plan(working_keyspace, query) if predicate(h))

    def on_up(self, host: Host) -> None:
        if self._predicate(host):
            self._child.on_up(host)

    def on_down(self, host: Host) -> None:
        self._child.on_down(host)

    def on_add(self, host: Host) -> None:
        if self._predicate(host):
            self._child.on_add(host)

    def on_remove(self, host: Host) -> None:
        self._child.on_remove(host)


def default_load_balancing_policy() -> LoadBalancingPolicy:
    """A new ``TokenAwarePolicy(DCAwareRoundRobinPolicy())``: replicas first, local datacenter
    only (guessed from the contact points), as cassandra-driver defaults to. A new instance on
    every call, because policies hold per-cluster state."""
    return TokenAwarePolicy(DCAwareRoundRobinPolicy())
