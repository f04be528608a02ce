"""The ``greencql sim`` subcommand: a simulated Cassandra cluster in its own process.

Owns the command line of the simulator: it builds a :class:`~greencql.testing.SimCluster`
from the options, prints one ``listening on address:port`` line per node and a final
``greencql sim: ready`` line (flushed: parents such as :meth:`SimCluster.spawn_process` wait
for them), and runs until SIGINT or SIGTERM, then stops every node and exits 0.
It must not do anything a SimCluster cannot do in-process.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

__all__ = ["configure", "run"]

#: how often the main task looks at the stop flag (signal handlers run between waits)
_SIGNAL_POLL = 0.1


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``greencql sim`` to ``parser``."""
    parser.add_argument("--nodes", type=int, default=3,
                        help="nodes (per datacenter with --dcs); default 3")
    parser.add_argument("--dcs", type=int, default=None, help="datacenters dc1..dcN")
    parser.add_argument("--racks", type=int, default=1, help="racks per datacenter")
    parser.add_argument("--port", type=int, default=9042, help="native port (0: any free)")
    parser.add_argument("--distinct-ports", action="store_true",
                        help="all nodes on --address with consecutive ports, instead of "
                             "node i on 127.0.0.i")
    parser.add_argument("--address", default="127.0.0.1", help="address of the first node")
    parser.add_argument("--auth", default=None, metavar="USER:PASSWORD",
                        help="require PasswordAuthenticator credentials")
    parser.add_argument("--tls-dir", default=None,
                        help="serve TLS; write the test CA (ca.pem) and node certificates here")
    parser.add_argument("--protocol-versions", default="3,4,5",
                        help="comma-separated protocol versions (default 3,4,5)")
    parser.add_argument("--num-tokens", type=int, default=16, help="tokens per node")
    parser.add_argument("--hub", default=None, choices=("gevent", "eventlet", "thread"),
                        help="the hub to serve on (default: detected, i.e. thread)")
    parser.add_argument("--seed", type=int, default=0, help="seed of tokens and host ids")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from greencql.testing.cluster import DISTINCT_PORTS, LOOPBACK_ALIASES, SimCluster

    auth = None
    if args.auth:
        user, sep, password = args.auth.partition(":")
        if not sep:
            print("--auth wants USER:PASSWORD", file=sys.stderr)
            return 2
        auth = (user, password)
    cluster = SimCluster(
        args.nodes, dcs=args.dcs, racks=args.racks, port=args.port, auth=auth,
        tls=False, addresses=DISTINCT_PORTS if args.distinct_ports else LOOPBACK_ALIASES,
        protocol_versions=[int(v) for v in args.protocol_versions.split(",") if v],
        num_tokens=args.num_tokens, hub=args.hub, seed=args.seed, first_address=args.address)
    if args.tls_dir:
        _enable_tls(cluster, args.tls_dir)
    stop = {"signal": None}

    def on_signal(signum: int, frame: Any) -> None:
        stop["signal"] = signum

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    cluster.start()
    out = sys.stdout
    for n in cluster.nodes:
        out.write(f"{n.name} {n.dc} {n.rack} listening on {n.address}:{n.port}\n")
    if cluster.certs is not None:
        out.write(f"tls ca {cluster.certs.ca_cert}\n")
    out.write(f"greencql sim: ready ({len(cluster.nodes)} nodes)\n")
    out.flush()
    hub = cluster.hub
    try:
        while stop["signal"] is None:
            hub.sleep(_SIGNAL_POLL)
    finally:
        cluster.stop()
    out.write("greencql sim: stopped\n")
    out.flush()
    return 0


def _enable_tls(cluster: Any, directory: str) -> None:
    from greencql.testing.certs import make_test_certificates

    certs = make_test_certificates([n.address for n in cluster.nodes], directory)
    cluster.certs = certs
    for n in cluster.nodes:
        n._tls_context = certs.server_context(n.address)
