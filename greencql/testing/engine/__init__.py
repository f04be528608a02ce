"""The simulated cluster's sans-network engine: CQL execution over an in-memory store.

The node server (which owns sockets) calls :class:`Engine` and turns its results into RESULT
messages; nothing in this package does IO or reads a clock.
"""

from greencql.testing.engine.core import BATCH_COUNTER, BATCH_LOGGED, BATCH_UNLOGGED, Engine
from greencql.testing.engine.results import (
    UNSET,
    ColumnSpec,
    Prepared,
    Result,
    Rows,
    SchemaChange,
    SetKeyspace,
    Void,
)
from greencql.testing.system_tables import NodeInfo

__all__ = [
    "Engine",
    "NodeInfo",
    "UNSET",
    "ColumnSpec",
    "Prepared",
    "Result",
    "Rows",
    "SchemaChange",
    "SetKeyspace",
    "Void",
    "BATCH_LOGGED",
    "BATCH_UNLOGGED",
    "BATCH_COUNTER",
]
