"""The `greencql` command: `--version` now; subcommands (`sim`, `demo`) register here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from greencql import __version__

__all__ = ["main", "build_parser"]

# Subcommands add themselves here: name -> (configure parser, run). Keeps this module free of
# imports of the simulator or the cluster layer until a subcommand is actually used.
_SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "sim": ("greencql.testing.cli", "run a simulated Cassandra cluster"),
    "demo": ("greencql.demo", "the demo: greencql against an embedded simulated cluster"),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `greencql` command."""
    parser = argparse.ArgumentParser(prog="greencql", description="greencql command line tools")
    parser.add_argument("--version", action="version", version=f"greencql {__version__}")
    sub = parser.add_subparsers(dest="command")
    for name, (module_name, help_text) in sorted(_SUBCOMMANDS.items()):
        module = __import__(module_name, fromlist=["configure"])
        configure: Callable[[argparse.ArgumentParser], None] = module.configure
        configure(sub.add_parser(name, help=help_text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
