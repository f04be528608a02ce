"""Every public name of cassandra-driver 3.30.1's modules, imported from greencql.

``cassandra_names.json`` (beside this file) is the table of names, generated once from the
installed cassandra-driver by ``generate_names.py`` and checked in. Each name must be
importable from the greencql module of the same path (``cassandra.query`` ->
``greencql.query``), or be listed in :data:`MISSING` with the reason it is left out. A name
listed as missing that greencql does have fails too, so the list stays true.

Runs without a server and without cassandra-driver (the table is data); when cassandra-driver
is installed, a last test checks that the table still matches it.
"""

from __future__ import annotations

import importlib
import json
import pathlib

import pytest

TABLE = json.loads((pathlib.Path(__file__).with_name("cassandra_names.json")).read_text())

# Why a name is left out. Out of scope (README, docs/migrating.md): DSE and graph, column
# encryption, cqlengine, the cassandra.io reactors.
DSE = "out of scope: DataStax Enterprise (graph, geo types, continuous paging, insights)"
ENCRYPTION = "out of scope: client-side column encryption"
REACTOR = (
    "out of scope: cassandra-driver's reactor, executor and per-connection machinery; "
    "greencql's hubs, pools and greenlets replace it"
)
WIRE = (
    "internal: cassandra-driver's wire codec (message classes, read_*/write_* helpers); "
    "greencql.protocol has its own sans-IO codec"
)
PROTOCOL_TYPES = "moved: the CQL type classes are in greencql.cqltypes"
TYPE_INTERNALS = "internal: cassandra-driver's type-system machinery (greencql.protocol.types)"
SCHEMA_PARSER = "internal: cassandra-driver's schema parsers (greencql.cluster.metadata.parse)"
HELPER = "internal: a private helper of cassandra-driver, not part of its documented API"
V2_POOL = (
    "protocol v1/v2 pool sizing; greencql speaks v3+ (Cluster core_connections/max_connections)"
)
SASL = "planned: SASL mechanisms other than PLAIN (GSSAPI/Kerberos)"
ENDPOINT_FACTORIES = "planned: end point factories (SNI proxies, cloud bundles, Unix sockets)"
HOST_TARGETING = "planned: statements pinned to one host (greencql: a load-balancing policy)"

MISSING: dict[str, dict[str, str]] = {
    "cassandra.cluster": {
        "BatchMessage": WIRE,
        "ErrorMessage": WIRE,
        "ExecuteMessage": WIRE,
        "IsBootstrappingErrorMessage": WIRE,
        "OverloadedErrorMessage": WIRE,
        "PrepareMessage": WIRE,
        "ProtocolHandler": WIRE,
        "QueryMessage": WIRE,
        "ReadTimeoutErrorMessage": WIRE,
        "ResultMessage": WIRE,
        "UnavailableErrorMessage": WIRE,
        "WriteTimeoutErrorMessage": WIRE,
        "ConnectionHeartbeat": REACTOR,
        "HostConnection": REACTOR,
        "HostConnectionPool": REACTOR,
        "ProfileManager": REACTOR,
        "refresh_schema_and_set_result": REACTOR,
        "run_in_executor": REACTOR,
        "ContinuousPagingOptions": DSE,
        "ContinuousPagingState": DSE,
        "EXEC_PROFILE_GRAPH_ANALYTICS_DEFAULT": DSE,
        "EXEC_PROFILE_GRAPH_DEFAULT": DSE,
        "EXEC_PROFILE_GRAPH_SYSTEM_DEFAULT": DSE,
        "GraphAnalyticsExecutionProfile": DSE,
        "GraphExecutionProfile": DSE,
        "GraphOptions": DSE,
        "GraphProtocol": DSE,
        "GraphSON1Serializer": DSE,
        "GraphSON2Serializer": DSE,
        "GraphSON3Serializer": DSE,
        "GraphStatement": DSE,
        "MonitorReporter": DSE,
        "SimpleGraphStatement": DSE,
        "graph_graphson2_row_factory": DSE,
        "graph_graphson3_row_factory": DSE,
        "graph_object_row_factory": DSE,
        "version_supports_insights": DSE,
        "DEFAULT_MAX_CONNECTIONS_PER_LOCAL_HOST": V2_POOL,
        "DEFAULT_MAX_CONNECTIONS_PER_REMOTE_HOST": V2_POOL,
        "DEFAULT_MAX_REQUESTS": V2_POOL,
        "DEFAULT_MIN_CONNECTIONS_PER_LOCAL_HOST": V2_POOL,
        "DEFAULT_MIN_CONNECTIONS_PER_REMOTE_HOST": V2_POOL,
        "DEFAULT_MIN_REQUESTS": V2_POOL,
        "DefaultEndPointFactory": ENDPOINT_FACTORIES,
        "SniEndPointFactory": ENDPOINT_FACTORIES,
        "HostTargetingStatement": HOST_TARGETING,
    },
    "cassandra.query": {
        "ColDesc": ENCRYPTION,
        "END_BADCHAR_REGEX": HELPER,
        "NON_ALPHA_REGEX": HELPER,
        "START_BADCHAR_REGEX": HELPER,
        "HostTargetingStatement": HOST_TARGETING,
    },
    "cassandra.policies": {
        "ColDesc": ENCRYPTION,
        "ColumnEncryptionPolicy": ENCRYPTION,
        "DSELoadBalancingPolicy": DSE,
    },
    "cassandra.auth": {
        "BaseDSEAuthenticator": DSE,
        "DSEGSSAPIAuthProvider": DSE,
        "DSEPlainTextAuthProvider": DSE,
        "TransitionalModePlainTextAuthProvider": DSE,
        "TransitionalModePlainTextAuthenticator": DSE,
        "GSSAPIAuthenticator": SASL,
        "SaslAuthProvider": SASL,
        "SaslAuthenticator": SASL,
    },
    "cassandra.concurrent": {
        "ConcurrentExecutorFutureResults": REACTOR,
        "ConcurrentExecutorGenResults": REACTOR,
        "ConcurrentExecutorListResults": REACTOR,
    },
    "cassandra.util": {
        "DateRange": DSE,
        "DateRangeBound": DSE,
        "DateRangePrecision": DSE,
        "Distance": DSE,
        "LineString": DSE,
        "OPEN_BOUND": DSE,
        "Point": DSE,
        "Polygon": DSE,
        "VERSION_REGEX": HELPER,
        "WeakSet": HELPER,
        "list_contents_to_tuple": HELPER,
    },
    "cassandra.metadata": {
        "EdgeMetadata": DSE,
        "RLACTableExtension": DSE,
        "SchemaParserDSE60": DSE,
        "SchemaParserDSE67": DSE,
        "SchemaParserDSE68": DSE,
        "TableMetadataDSE68": DSE,
        "VertexMetadata": DSE,
        "NoMurmur3": SCHEMA_PARSER,
        "RegisteredTableExtension": SCHEMA_PARSER,
        "ReplicationFactor": SCHEMA_PARSER,
        "ReplicationStrategyTypeType": SCHEMA_PARSER,
        "SchemaParserV22": SCHEMA_PARSER,
        "SchemaParserV3": SCHEMA_PARSER,
        "SchemaParserV4": SCHEMA_PARSER,
        "TableExtensionInterface": SCHEMA_PARSER,
        "TableMetadataV3": SCHEMA_PARSER,
        "get_schema_parser": SCHEMA_PARSER,
        "QueryMessage": WIRE,
        "varint_unpack": WIRE,
        "trim_if_startswith": HELPER,
    },
    "cassandra.protocol": {
        "AsciiType": PROTOCOL_TYPES,
        "BooleanType": PROTOCOL_TYPES,
        "ByteType": PROTOCOL_TYPES,
        "BytesType": PROTOCOL_TYPES,
        "CounterColumnType": PROTOCOL_TYPES,
        "DateType": PROTOCOL_TYPES,
        "DecimalType": PROTOCOL_TYPES,
        "DoubleType": PROTOCOL_TYPES,
        "DurationType": PROTOCOL_TYPES,
        "FloatType": PROTOCOL_TYPES,
        "InetAddressType": PROTOCOL_TYPES,
        "Int32Type": PROTOCOL_TYPES,
        "IntegerType": PROTOCOL_TYPES,
        "ListType": PROTOCOL_TYPES,
        "LongType": PROTOCOL_TYPES,
        "MapType": PROTOCOL_TYPES,
        "SetType": PROTOCOL_TYPES,
        "ShortType": PROTOCOL_TYPES,
        "SimpleDateType": PROTOCOL_TYPES,
        "TimeType": PROTOCOL_TYPES,
        "TimeUUIDType": PROTOCOL_TYPES,
        "TupleType": PROTOCOL_TYPES,
        "UTF8Type": PROTOCOL_TYPES,
        "UUIDType": PROTOCOL_TYPES,
        "UserType": PROTOCOL_TYPES,
        "VarcharType": PROTOCOL_TYPES,
        "lookup_casstype": PROTOCOL_TYPES,
        "AuthChallengeMessage": WIRE,
        "AuthResponseMessage": WIRE,
        "AuthSuccessMessage": WIRE,
        "AuthenticateMessage": WIRE,
        "BatchMessage": WIRE,
        "CUSTOM_TYPE": WIRE,
        "ClientWriteError": WIRE,
        "CredentialsMessage": WIRE,
        "ErrorMessageSub": WIRE,
        "ErrorMessageSubclass": WIRE,
        "EventMessage": WIRE,
        "ExecuteMessage": WIRE,
        "InternalError": WIRE,
        "LazyParser": WIRE,
        "LazyProtocolHandler": WIRE,
        "ListParser": WIRE,
        "NotSupportedError": WIRE,
        "NumpyParser": WIRE,
        "NumpyProtocolHandler": WIRE,
        "OptionsMessage": WIRE,
        "PrepareMessage": WIRE,
        "ProtocolHandler": WIRE,
        "QueryMessage": WIRE,
        "ReadyMessage": WIRE,
        "RegisterMessage": WIRE,
        "ResultMessage": WIRE,
        "ReviseRequestMessage": WIRE,
        "StartupMessage": WIRE,
        "SupportedMessage": WIRE,
        "cython_protocol_handler": WIRE,
        "get_registered_classes": WIRE,
        "int32_unpack": WIRE,
        "int8_unpack": WIRE,
        "read_binary_longstring": WIRE,
        "read_binary_string": WIRE,
        "read_byte": WIRE,
        "read_bytesmap": WIRE,
        "read_consistency_level": WIRE,
        "read_error_code_map": WIRE,
        "read_inet": WIRE,
        "read_inet_addr_only": WIRE,
        "read_int": WIRE,
        "read_longstring": WIRE,
        "read_short": WIRE,
        "read_string": WIRE,
        "read_stringlist": WIRE,
        "read_stringmap": WIRE,
        "read_stringmultimap": WIRE,
        "read_uint_le": WIRE,
        "read_value": WIRE,
        "register_class": WIRE,
        "uint16_unpack": WIRE,
        "uint32_le_unpack": WIRE,
        "write_byte": WIRE,
        "write_bytesmap": WIRE,
        "write_consistency_level": WIRE,
        "write_inet": WIRE,
        "write_int": WIRE,
        "write_long": WIRE,
        "write_longstring": WIRE,
        "write_short": WIRE,
        "write_string": WIRE,
        "write_stringlist": WIRE,
        "write_stringmap": WIRE,
        "write_stringmultimap": WIRE,
        "write_uint": WIRE,
        "write_uint_le": WIRE,
        "write_value": WIRE,
        "ColDesc": ENCRYPTION,
    },
    "cassandra.connection": {
        "AuthChallengeMessage": WIRE,
        "AuthResponseMessage": WIRE,
        "AuthSuccessMessage": WIRE,
        "AuthenticateMessage": WIRE,
        "CrcException": WIRE,
        "CrcMismatchException": WIRE,
        "CredentialsMessage": WIRE,
        "HEADER_DIRECTION_FROM_CLIENT": WIRE,
        "HEADER_DIRECTION_MASK": WIRE,
        "HEADER_DIRECTION_TO_CLIENT": WIRE,
        "OptionsMessage": WIRE,
        "PROTOCOL_VERSION_MASK": WIRE,
        "ProtocolHandler": WIRE,
        "QueryMessage": WIRE,
        "ReadyMessage": WIRE,
        "RegisterMessage": WIRE,
        "ResultMessage": WIRE,
        "ReviseRequestMessage": WIRE,
        "SegmentCodec": WIRE,
        "StartupMessage": WIRE,
        "SupportedMessage": WIRE,
        "decompress": WIRE,
        "lz4_compress": WIRE,
        "lz4_decompress": WIRE,
        "ConnectionHeartbeat": REACTOR,
        "HeartbeatFuture": REACTOR,
        "NONBLOCKING": REACTOR,
        "ResponseWaiter": REACTOR,
        "Timer": REACTOR,
        "TimerManager": REACTOR,
        "defunct_on_error": REACTOR,
        "ContinuousPagingSession": DSE,
        "ContinuousPagingState": DSE,
        "DefaultEndPointFactory": ENDPOINT_FACTORIES,
        "EndPointFactory": ENDPOINT_FACTORIES,
        "SniEndPoint": ENDPOINT_FACTORIES,
        "SniEndPointFactory": ENDPOINT_FACTORIES,
        "UnixSocketEndPoint": ENDPOINT_FACTORIES,
    },
    "cassandra.pool": {
        "HostConnection": REACTOR,
        "HostConnectionPool": REACTOR,
    },
    "cassandra.cqltypes": {
        "BoundKind": TYPE_INTERNALS,
        "CassandraTypeType": TYPE_INTERNALS,
        "ColumnToCollectionType": TYPE_INTERNALS,
        "CompositeType": TYPE_INTERNALS,
        "DynamicCompositeType": TYPE_INTERNALS,
        "EMPTY": TYPE_INTERNALS,
        "EmptyValue": TYPE_INTERNALS,
        "FrozenType": TYPE_INTERNALS,
        "ReversedType": TYPE_INTERNALS,
        "cql_types_from_string": TYPE_INTERNALS,
        "cqltype_to_python": TYPE_INTERNALS,
        "double_unpack": TYPE_INTERNALS,
        "float_unpack": TYPE_INTERNALS,
        "int16_unpack": TYPE_INTERNALS,
        "int32_unpack": TYPE_INTERNALS,
        "int64_unpack": TYPE_INTERNALS,
        "int8_unpack": TYPE_INTERNALS,
        "is_counter_type": TYPE_INTERNALS,
        "is_reversed_casstype": TYPE_INTERNALS,
        "lookup_casstype_simple": TYPE_INTERNALS,
        "mkUnrecognizedType": TYPE_INTERNALS,
        "parse_casstype_args": TYPE_INTERNALS,
        "python_to_cqltype": TYPE_INTERNALS,
        "trim_if_startswith": TYPE_INTERNALS,
        "uint16_unpack": TYPE_INTERNALS,
        "uint32_unpack": TYPE_INTERNALS,
        "uvint_pack": TYPE_INTERNALS,
        "uvint_unpack": TYPE_INTERNALS,
        "varint_pack": TYPE_INTERNALS,
        "varint_unpack": TYPE_INTERNALS,
        "vints_pack": TYPE_INTERNALS,
        "vints_unpack": TYPE_INTERNALS,
        "DateRangeType": DSE,
        "LineStringType": DSE,
        "PointType": DSE,
        "PolygonType": DSE,
        "WKBGeometryType": DSE,
    },
    "cassandra.encoder": {
        "LineString": DSE,
        "Point": DSE,
        "Polygon": DSE,
    },
}


def _greencql_module(cassandra_module: str):
    return importlib.import_module("greencql" + cassandra_module[len("cassandra"):])


def _cases():
    for module, names in TABLE["modules"].items():
        for name in names:
            yield pytest.param(module, name, id=f"{module}.{name}")


def test_table_is_the_one_of_3_30_1():
    assert TABLE["version"] == "3.30.1"
    assert sum(len(n) for n in TABLE["modules"].values()) > 500


@pytest.mark.parametrize(("module", "name"), list(_cases()))
def test_name_is_importable_or_listed_as_missing(module, name):
    target = _greencql_module(module)
    reason = MISSING.get(module, {}).get(name)
    if reason is None:
        assert hasattr(target, name), f"{target.__name__} lacks {name} (cassandra: {module})"
        assert name in target.__all__, f"{name} is not in {target.__name__}.__all__"
    else:
        assert not hasattr(target, name), f"{module}.{name} is listed missing but exists"


def test_missing_names_are_in_the_table():
    for module, names in MISSING.items():
        assert set(names) <= set(TABLE["modules"][module]), module


def test_every_greencql_compat_module_declares_all():
    for module in TABLE["modules"]:
        target = _greencql_module(module)
        exported = getattr(target, "__all__", None)
        assert exported, target.__name__
        missing = [n for n in exported if not hasattr(target, n)]
        assert missing == [], (target.__name__, missing)


_WITH_NUMPY = {"cassandra.protocol": {"NumpyParser", "NumpyProtocolHandler"}}


def test_table_matches_the_installed_cassandra_driver():
    try:
        import cassandra
    except ImportError:
        pytest.skip("cassandra-driver is not installed")
    if cassandra.__version__ != TABLE["version"]:
        pytest.skip(f"cassandra-driver {cassandra.__version__} installed, table of 3.30.1")
    from conftest import import_cassandra_cluster

    import_cassandra_cluster()  # its eventlet reactor hidden, as the whole suite does
    import generate_names

    for module, names in TABLE["modules"].items():
        # names cassandra-driver defines only where NumPy is installed (the table may have
        # been made with or without it)
        optional = _WITH_NUMPY.get(module, set())
        installed = [n for n in generate_names.public_names(module) if n not in optional]
        assert installed == [n for n in names if n not in optional], module


def test_compat_names_keep_the_layers_apart():
    """greencql.pool names cassandra.pool's Host (a cluster-layer class) lazily, and
    greencql.protocol names cassandra.protocol's errors (from greencql.errors): importing
    either still loads nothing from the layers above it (DESIGN.md)."""
    import subprocess
    import sys

    code = (
        "import sys, greencql.pool, greencql.protocol; "
        "print(sorted(m for m in sys.modules if m.startswith(('greencql.cluster', "
        "'gevent', 'eventlet'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout.strip()
    assert out == "[]", out
    code = ("import sys, greencql.protocol; "
            "print(any(m.startswith(('greencql.pool', 'greencql.hubs')) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout.strip()
    assert out == "False"
