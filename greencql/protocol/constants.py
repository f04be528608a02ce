"""Numbers the native protocol defines: versions, opcodes, flags, kinds, consistency levels.

Values come from doc/native_protocol_v4.spec and doc/native_protocol_v5.spec (apache/cassandra).
Nothing here does anything; every other protocol module names these instead of literals.
"""

from __future__ import annotations

import enum

__all__ = [
    "ProtocolVersion",
    "SUPPORTED_VERSIONS",
    "MAX_SUPPORTED_VERSION",
    "MIN_SUPPORTED_VERSION",
    "BETA_VERSIONS",
    "Opcode",
    "REQUEST_OPCODES",
    "RESPONSE_OPCODES",
    "HeaderFlag",
    "QueryFlag",
    "PrepareFlag",
    "ResultKind",
    "RowsFlag",
    "ConsistencyLevel",
    "consistency_value_to_name",
    "BatchType",
    "WriteType",
    "SchemaChangeType",
    "SchemaChangeTarget",
    "EventType",
    "HEADER_LENGTH",
    "DEFAULT_MAX_FRAME_BODY",
    "RESPONSE_DIRECTION",
]


class ProtocolVersion(enum.IntEnum):
    """Native protocol versions, as cassandra-driver names them. greencql speaks v3 to v5;
    v1, v2 and v6 (beta in Cassandra) are known, so that a setting naming them gets a clear
    error instead of an AttributeError. The class attributes and helpers below follow
    cassandra-driver's ``ProtocolVersion`` (``MAX_SUPPORTED``, ``BETA_VERSIONS``,
    ``get_lower_supported``, ``uses_*``); they describe greencql's own support."""

    V1 = 1
    V2 = 2
    V3 = 3
    V4 = 4
    V5 = 5
    V6 = 6

    @classmethod
    def get_lower_supported(cls, previous_version: int) -> int:
        """The next version to try after ``previous_version`` was refused; 0 when none."""
        lower = [v for v in SUPPORTED_VERSIONS if v < previous_version]
        return max(lower) if lower else 0

    @classmethod
    def uses_int_query_flags(cls, version: int) -> bool:
        return version >= 5

    @classmethod
    def uses_prepare_flags(cls, version: int) -> bool:
        return version >= 5

    @classmethod
    def uses_prepared_metadata(cls, version: int) -> bool:
        return version >= 5

    @classmethod
    def uses_error_code_map(cls, version: int) -> bool:
        return version >= 5

    @classmethod
    def uses_keyspace_flag(cls, version: int) -> bool:
        return version >= 5

    @classmethod
    def has_checksumming_support(cls, version: int) -> bool:
        return 5 <= version < 6

    @classmethod
    def has_continuous_paging_support(cls, version: int) -> bool:
        return False  # a DataStax Enterprise feature


SUPPORTED_VERSIONS: tuple[int, ...] = (5, 4, 3)  # highest first: the order of negotiation
MAX_SUPPORTED_VERSION = 5
MIN_SUPPORTED_VERSION = 3
# Versions only sent with the USE_BETA flag. v5 left beta in Cassandra 4.0; v6 is beta there.
BETA_VERSIONS: frozenset[int] = frozenset({6})

# cassandra-driver's class attributes (set after the class: an enum body would make them
# members). BETA_VERSIONS is a tuple there.
ProtocolVersion.SUPPORTED_VERSIONS = tuple(ProtocolVersion(v) for v in SUPPORTED_VERSIONS)  # type: ignore[attr-defined]
ProtocolVersion.BETA_VERSIONS = (ProtocolVersion.V6,)  # type: ignore[attr-defined]
ProtocolVersion.MIN_SUPPORTED = ProtocolVersion.V3  # type: ignore[attr-defined]
ProtocolVersion.MAX_SUPPORTED = ProtocolVersion.V5  # type: ignore[attr-defined]

HEADER_LENGTH = 9  # v3+ frame header: version, flags, stream (2), opcode, length (4)
RESPONSE_DIRECTION = 0x80  # high bit of the version byte: set on responses

# The spec caps frame bodies at 256 MB; that is what Cassandra accepts by default too
# (native_transport_max_frame_size in older releases). A declared length above the configured
# maximum is refused before anything is allocated.
DEFAULT_MAX_FRAME_BODY = 256 * 1024 * 1024


class Opcode(enum.IntEnum):
    ERROR = 0x00
    STARTUP = 0x01
    READY = 0x02
    AUTHENTICATE = 0x03
    OPTIONS = 0x05
    SUPPORTED = 0x06
    QUERY = 0x07
    RESULT = 0x08
    PREPARE = 0x09
    EXECUTE = 0x0A
    REGISTER = 0x0B
    EVENT = 0x0C
    BATCH = 0x0D
    AUTH_CHALLENGE = 0x0E
    AUTH_RESPONSE = 0x0F
    AUTH_SUCCESS = 0x10


REQUEST_OPCODES: frozenset[int] = frozenset(
    {
        Opcode.STARTUP,
        Opcode.OPTIONS,
        Opcode.QUERY,
        Opcode.PREPARE,
        Opcode.EXECUTE,
        Opcode.REGISTER,
        Opcode.BATCH,
        Opcode.AUTH_RESPONSE,
    }
)
RESPONSE_OPCODES: frozenset[int] = frozenset(
    {
        Opcode.ERROR,
        Opcode.READY,
        Opcode.AUTHENTICATE,
        Opcode.SUPPORTED,
        Opcode.RESULT,
        Opcode.EVENT,
        Opcode.AUTH_CHALLENGE,
        Opcode.AUTH_SUCCESS,
    }
)


class HeaderFlag(enum.IntFlag):
    """Flags byte of the frame header."""

    COMPRESSION = 0x01  # v3/v4 only: in v5 compression is per segment
    TRACING = 0x02
    CUSTOM_PAYLOAD = 0x04
    WARNING = 0x08
    USE_BETA = 0x10


class QueryFlag(enum.IntFlag):
    """<flags> of QUERY, EXECUTE and BATCH: a byte in v3/v4, an [int] in v5."""

    VALUES = 0x01
    SKIP_METADATA = 0x02
    PAGE_SIZE = 0x04
    WITH_PAGING_STATE = 0x08
    WITH_SERIAL_CONSISTENCY = 0x10
    WITH_DEFAULT_TIMESTAMP = 0x20
    WITH_NAMES_FOR_VALUES = 0x40
    WITH_KEYSPACE = 0x80  # v5
    WITH_NOW_IN_SECONDS = 0x100  # v5


class PrepareFlag(enum.IntFlag):
    """<flags> of PREPARE (v5 only)."""

    WITH_KEYSPACE = 0x01


class ResultKind(enum.IntEnum):
    VOID = 0x0001
    ROWS = 0x0002
    SET_KEYSPACE = 0x0003
    PREPARED = 0x0004
    SCHEMA_CHANGE = 0x0005


class RowsFlag(enum.IntFlag):
    """<flags> of ROWS / prepared result metadata."""

    GLOBAL_TABLES_SPEC = 0x0001
    HAS_MORE_PAGES = 0x0002
    NO_METADATA = 0x0004
    METADATA_CHANGED = 0x0008  # v5


class ConsistencyLevel(enum.IntEnum):
    """Consistency levels, as cassandra-driver names them (``ConsistencyLevel.LOCAL_QUORUM``)."""

    ANY = 0x0000
    ONE = 0x0001
    TWO = 0x0002
    THREE = 0x0003
    QUORUM = 0x0004
    ALL = 0x0005
    LOCAL_QUORUM = 0x0006
    EACH_QUORUM = 0x0007
    SERIAL = 0x0008
    LOCAL_SERIAL = 0x0009
    LOCAL_ONE = 0x000A

    @property
    def is_serial(self) -> bool:
        return self in (ConsistencyLevel.SERIAL, ConsistencyLevel.LOCAL_SERIAL)

    @staticmethod
    def is_serial_level(level: int) -> bool:
        """cassandra-driver's ``ConsistencyLevel.is_serial(level)``, for any int."""
        return level in (ConsistencyLevel.SERIAL, ConsistencyLevel.LOCAL_SERIAL)


# cassandra-driver's lookup tables, on the class as there
ConsistencyLevel.value_to_name = {int(c): c.name for c in ConsistencyLevel}  # type: ignore[attr-defined]
ConsistencyLevel.name_to_value = {c.name: int(c) for c in ConsistencyLevel}  # type: ignore[attr-defined]


def consistency_value_to_name(value: int | None) -> str:
    """The name of a consistency level number ("Not Set" for None), as cassandra-driver."""
    if value is None:
        return "Not Set"
    return ConsistencyLevel.value_to_name.get(value, "Not Set")


class BatchType(enum.IntEnum):
    LOGGED = 0
    UNLOGGED = 1
    COUNTER = 2


class WriteType(str, enum.Enum):
    """The <writeType> string of WriteTimeout / WriteFailure errors."""

    SIMPLE = "SIMPLE"
    BATCH = "BATCH"
    UNLOGGED_BATCH = "UNLOGGED_BATCH"
    COUNTER = "COUNTER"
    BATCH_LOG = "BATCH_LOG"
    CAS = "CAS"
    VIEW = "VIEW"
    CDC = "CDC"


class SchemaChangeType(str, enum.Enum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    DROPPED = "DROPPED"


class SchemaChangeTarget(str, enum.Enum):
    KEYSPACE = "KEYSPACE"
    TABLE = "TABLE"
    TYPE = "TYPE"
    FUNCTION = "FUNCTION"
    AGGREGATE = "AGGREGATE"


class EventType(str, enum.Enum):
    TOPOLOGY_CHANGE = "TOPOLOGY_CHANGE"
    STATUS_CHANGE = "STATUS_CHANGE"
    SCHEMA_CHANGE = "SCHEMA_CHANGE"
