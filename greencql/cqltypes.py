"""``cassandra.cqltypes`` under greencql's name: the CQL types.

Owns nothing: it re-exports :mod:`greencql.protocol.types` under cassandra-driver's Java-style
names. There each name is a class; here the native names (``Int32Type``, ``UTF8Type``, ...)
are the one shared type *object* of that type, and the parameterized ones (``ListType``,
``MapType``, ``UserType``, ...) are classes whose instances are types. Both carry
``typename``, ``cassname`` and ``subtypes`` as cassandra-driver's do, and compare equal to
the types of a result's ``column_types``.
"""

from greencql.cluster.metadata.model import strip_frozen
from greencql.protocol.types import (
    ASCII,
    BIGINT,
    BLOB,
    BOOLEAN,
    COUNTER,
    DATE,
    DECIMAL,
    DOUBLE,
    DURATION,
    FLOAT,
    INET,
    INT,
    SMALLINT,
    TEXT,
    TIME,
    TIMESTAMP,
    TIMEUUID,
    TINYINT,
    UUID,
    VARINT,
    CqlType,
    CustomType,
    ListType,
    MapType,
    SetType,
    TupleType,
    UserType,
    VectorType,
    parse_type_string,
)

CassandraType = CqlType
AsciiType = ASCII
LongType = BIGINT
BytesType = BLOB
BooleanType = BOOLEAN
CounterColumnType = COUNTER
SimpleDateType = DATE
DecimalType = DECIMAL
DoubleType = DOUBLE
DurationType = DURATION
FloatType = FLOAT
InetAddressType = INET
Int32Type = INT
ShortType = SMALLINT
UTF8Type = TEXT
VarcharType = TEXT
TimeType = TIME
DateType = TIMESTAMP
TimestampType = TIMESTAMP
TimeUUIDType = TIMEUUID
ByteType = TINYINT
UUIDType = UUID
IntegerType = VARINT


def lookup_casstype(casstype: str | CqlType) -> CqlType:
    """A type from its CQL (``'map<text, int>'``) or Java class-name form."""
    if isinstance(casstype, CqlType):
        return casstype
    return parse_type_string(casstype)


def cql_typename(casstypename: str) -> str:
    """The CQL form of a type given in either form."""
    return parse_type_string(casstypename).cql_name


__all__ = [
    "CassandraType",
    "CustomType",
    "AsciiType",
    "LongType",
    "BytesType",
    "BooleanType",
    "CounterColumnType",
    "SimpleDateType",
    "DecimalType",
    "DoubleType",
    "DurationType",
    "FloatType",
    "InetAddressType",
    "Int32Type",
    "ShortType",
    "UTF8Type",
    "VarcharType",
    "TimeType",
    "DateType",
    "TimestampType",
    "TimeUUIDType",
    "ByteType",
    "UUIDType",
    "IntegerType",
    "ListType",
    "SetType",
    "MapType",
    "TupleType",
    "UserType",
    "VectorType",
    "lookup_casstype",
    "cql_typename",
    "strip_frozen",
]
