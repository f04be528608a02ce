"""``cassandra.util`` under greencql's name: value containers, Date/Time/Duration and the
time-UUID and timestamp helpers.

Owns nothing: it re-exports :mod:`greencql.protocol.values` (containers and helpers) and the
value types of :mod:`greencql.protocol.types`, so that ``from cassandra.util import ...``
becomes ``from greencql.util import ...``.
"""

from greencql.errors import DriverException
from greencql.protocol.types import Date, Duration, Time
from greencql.protocol.values import (
    DATETIME_EPOC,
    HIGHEST_TIME_UUID,
    LOWEST_TIME_UUID,
    UTC_DATETIME_EPOC,
    OrderedMap,
    OrderedMapSerializedKey,
    SortedSet,
    Version,
    datetime_from_timestamp,
    datetime_from_uuid1,
    max_uuid_from_time,
    min_uuid_from_time,
    ms_timestamp_from_datetime,
    sortedset,
    unix_time_from_uuid1,
    utc_datetime_from_ms_timestamp,
    uuid_from_time,
)

__all__ = [
    "DATETIME_EPOC",
    "UTC_DATETIME_EPOC",
    "LOWEST_TIME_UUID",
    "HIGHEST_TIME_UUID",
    "Date",
    "Time",
    "Duration",
    "Version",
    "SortedSet",
    "sortedset",
    "OrderedMap",
    "OrderedMapSerializedKey",
    "DriverException",
    "datetime_from_timestamp",
    "utc_datetime_from_ms_timestamp",
    "ms_timestamp_from_datetime",
    "uuid_from_time",
    "min_uuid_from_time",
    "max_uuid_from_time",
    "unix_time_from_uuid1",
    "datetime_from_uuid1",
]
