"""Availability in the simulated cluster: whether a request's consistency level can be met.

Owns: the replicas of a token (SimpleStrategy / NetworkTopologyStrategy walks over the nodes'
tokens, racks ignored), the number of replicas a consistency level blocks for (4.0's
ConsistencyLevel.blockFor, LOCAL_* levels counted in the coordinator's data center), and the
Unavailable error when too few of them are alive, as a coordinator answers before it
attempts anything. Data is not replicated per replica: the store stays shared, so a request
that passes this check sees every write (see docs/simulator.md).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from typing import Any

from greencql.errors import InvalidRequest, Unavailable
from greencql.protocol.constants import ConsistencyLevel as CL

__all__ = ["Ring", "check_available"]

_LOCAL = (CL.LOCAL_ONE, CL.LOCAL_QUORUM, CL.LOCAL_SERIAL)


class Ring:
    """The nodes' tokens in ring order (built per topology)."""

    def __init__(self, nodes: list[Any]) -> None:
        entries = []
        for n in nodes:
            for t in n.tokens:
                entries.append((int(t), n))
        entries.sort(key=lambda e: e[0])
        self.tokens = [t for t, _ in entries]
        self.owners = [n for _, n in entries]
        self.nodes = nodes

    def walk(self, token: int) -> Iterable[Any]:
        """Nodes from the first token >= ``token``, once round the ring."""
        n = len(self.tokens)
        if not n:
            return
        start = bisect_left(self.tokens, token) % n
        for i in range(n):
            yield self.owners[(start + i) % n]

    def replicas(self, token: int, replication: dict[str, str]) -> list[Any]:
        cls = replication.get("class", "").rsplit(".", 1)[-1]
        if cls == "EverywhereStrategy":
            return list(self.nodes)
        out: list[Any] = []
        seen: set[Any] = set()
        if cls == "SimpleStrategy":
            rf = _rf(replication.get("replication_factor", "1"))
            for node in self.walk(token):
                if len(out) >= rf:
                    break
                if node.host_id not in seen:
                    seen.add(node.host_id)
                    out.append(node)
            return out
        want = {dc: _rf(v) for dc, v in replication.items() if dc != "class"}
        got: dict[str, int] = {}
        for node in self.walk(token):
            dc = node.dc
            if node.host_id in seen or got.get(dc, 0) >= want.get(dc, 0):
                continue
            seen.add(node.host_id)
            got[dc] = got.get(dc, 0) + 1
            out.append(node)
        return out


def _rf(v: Any) -> int:
    return int(str(v).split("/")[0])


def _total_rf(replication: dict[str, str], nodes: list[Any]) -> dict[str, int]:
    """Replication factor per data center."""
    cls = replication.get("class", "").rsplit(".", 1)[-1]
    if cls == "SimpleStrategy":
        return {"": _rf(replication.get("replication_factor", "1"))}
    if cls == "EverywhereStrategy":
        return {"": len(nodes)}
    return {dc: _rf(v) for dc, v in replication.items() if dc != "class"}


def _block_for(cl: CL, rfs: dict[str, int], local_dc: str | None, simple: bool) -> int:
    total = sum(rfs.values())
    if cl in (CL.ANY, CL.ONE, CL.LOCAL_ONE):
        return 1
    if cl == CL.TWO:
        return 2
    if cl == CL.THREE:
        return 3
    if cl in (CL.QUORUM, CL.SERIAL):
        return total // 2 + 1
    if cl == CL.ALL:
        return total
    if cl in (CL.LOCAL_QUORUM, CL.LOCAL_SERIAL):
        rf = total if simple else rfs.get(local_dc or "", 0)
        return rf // 2 + 1
    return total // 2 + 1


def check_available(cl_value: Any, replicas: list[Any], replication: dict[str, str],
                    nodes: list[Any], live: set[Any], local_dc: str | None,
                    write: bool) -> None:
    """Raise Unavailable when fewer replicas of one partition are alive than ``cl``
    needs."""
    cl = CL(int(cl_value))
    if cl == CL.ANY:
        if not write:
            raise InvalidRequest("ANY ConsistencyLevel is only supported for writes")
        return
    if cl == CL.EACH_QUORUM and not write:
        raise InvalidRequest("EACH_QUORUM ConsistencyLevel is only supported for writes")
    rfs = _total_rf(replication, nodes)
    simple = "" in rfs
    if cl == CL.EACH_QUORUM and not simple:
        for dc, rf in rfs.items():
            need = rf // 2 + 1
            alive = sum(1 for r in replicas if r.dc == dc and r.host_id in live)
            if alive < need:
                raise Unavailable(f"Cannot achieve consistency level {cl.name} in DC {dc}",
                                  consistency=cl, required_replicas=need, alive_replicas=alive)
        return
    need = _block_for(cl, rfs, local_dc, simple)
    if cl in _LOCAL and not simple:
        alive = sum(1 for r in replicas if r.dc == local_dc and r.host_id in live)
    else:
        alive = sum(1 for r in replicas if r.host_id in live)
    if alive < need:
        raise Unavailable(f"Cannot achieve consistency level {cl.name}", consistency=cl,
                          required_replicas=need, alive_replicas=alive)
