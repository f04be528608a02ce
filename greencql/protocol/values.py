"""The value containers and helpers cassandra-driver applications compare against.

cassandra-driver returns a CQL ``set`` as a ``SortedSet`` and a ``map`` as an
``OrderedMapSerializedKey`` (both accept unhashable members: a set of lists, a map keyed by a
map), and its ``cassandra.util`` offers time-UUID and timestamp helpers that applications call
directly. This module owns greencql's own implementation of those (same names, same
comparisons), so that ``greencql.util`` can re-export them and the row decoders of the
``"driver"`` value types (see :mod:`greencql.protocol.rows`) can build them.

Pure code: no clock is read here (``uuid_from_time`` takes the time it is given), nothing is
imported from above protocol/.
"""

from __future__ import annotations

import bisect
import calendar
import datetime as _dt
import itertools
import pickle
import random
import re
import uuid
from collections.abc import Callable, ItemsView, Iterable, Iterator, Mapping, Sequence, ValuesView
from collections.abc import Set as AbstractSet
from typing import Any

__all__ = [
    "SortedSet",
    "sortedset",
    "OrderedMap",
    "OrderedMapSerializedKey",
    "Version",
    "DATETIME_EPOC",
    "UTC_DATETIME_EPOC",
    "LOWEST_TIME_UUID",
    "HIGHEST_TIME_UUID",
    "datetime_from_timestamp",
    "utc_datetime_from_ms_timestamp",
    "ms_timestamp_from_datetime",
    "uuid_from_time",
    "min_uuid_from_time",
    "max_uuid_from_time",
    "unix_time_from_uuid1",
    "datetime_from_uuid1",
    "SignatureDescriptor",
    "UserFunctionDescriptor",
    "UserAggregateDescriptor",
]

DATETIME_EPOC = _dt.datetime(1970, 1, 1)
UTC_DATETIME_EPOC = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
# 100 ns intervals between the Gregorian reform (UUID epoch) and the Unix epoch
_UUID_EPOCH_OFFSET = 0x01B21DD213814000
LOWEST_TIME_UUID = uuid.UUID("00000000-0000-1000-8080-808080808080")
HIGHEST_TIME_UUID = uuid.UUID("ffffffff-ffff-1fff-bf7f-7f7f7f7f7f7f")


# ============================================================================================
# Containers
# ============================================================================================


class SortedSet:
    """A set kept in sorted order whose members need not be hashable (a CQL ``set<list<int>>``
    decodes to one). Compares equal to any set, frozenset, list or SortedSet holding the same
    members, as cassandra-driver's ``util.SortedSet`` does. Membership is a binary search."""

    __slots__ = ("_items",)

    def __init__(self, iterable: Iterable[Any] = ()) -> None:
        self._items: list[Any] = []
        for item in iterable:
            self.add(item)

    @classmethod
    def _from_members(cls, values: list[Any]) -> SortedSet:
        """A SortedSet of ``values`` (distinct, as a decoded CQL set's are): one sort instead
        of an insertion each (what the driver value types' set decoder calls)."""
        try:
            ordered = sorted(values)
        except TypeError:  # members that do not order: insert one by one
            return cls(values)
        if len(ordered) > 1 and any(a == b for a, b in itertools.pairwise(ordered)):
            return cls(ordered)  # duplicates after all: let add() drop them
        new = object.__new__(cls)
        new._items = ordered
        return new

    def _find(self, item: Any) -> tuple[int, bool]:
        items = self._items
        try:
            i = bisect.bisect_left(items, item)
        except TypeError:  # members that do not order against each other: linear scan
            for i, x in enumerate(items):
                if x == item:
                    return i, True
            return len(items), False
        if i < len(items) and items[i] == item:
            return i, True
        if items and not _totally_ordered(items[0]):
            # members ordered partially (sets compare by inclusion): bisect can miss
            for j, x in enumerate(items):
                if x == item:
                    return j, True
        return i, False

    def add(self, item: Any) -> None:
        i, found = self._find(item)
        if not found:
            self._items.insert(i, item)

    def update(self, iterable: Iterable[Any]) -> None:
        for item in iterable:
            self.add(item)

    def remove(self, item: Any) -> None:
        i, found = self._find(item)
        if not found:
            raise KeyError(item)
        del self._items[i]

    def discard(self, item: Any) -> None:
        i, found = self._find(item)
        if found:
            del self._items[i]

    def pop(self) -> Any:
        if not self._items:
            raise KeyError("pop from empty SortedSet")
        return self._items.pop()

    def clear(self) -> None:
        self._items.clear()

    def copy(self) -> SortedSet:
        new = SortedSet()
        new._items = list(self._items)
        return new

    def __contains__(self, item: Any) -> bool:
        return self._find(item)[1]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._items)

    def __reversed__(self) -> Iterator[Any]:
        return reversed(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, i: int) -> Any:
        return self._items[i]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SortedSet):
            return self._items == other._items
        if isinstance(other, (str, bytes, bytearray, Mapping)):
            return NotImplemented
        if isinstance(other, (set, frozenset, list, tuple)) or (
                hasattr(other, "__iter__") and hasattr(other, "__len__")):
            # any other sized collection: sets, lists, cassandra-driver's own SortedSet
            others = list(other)  # type: ignore[call-overload]
            return len(others) == len(self._items) and all(x in self for x in others)
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = None  # type: ignore[assignment]  # mutable, like set

    def __repr__(self) -> str:
        return f"SortedSet({self._items!r})"

    __str__ = __repr__

    def __reduce__(self) -> tuple[Any, ...]:
        return (SortedSet, (self._items,))

    def issubset(self, other: Iterable[Any]) -> bool:
        return all(x in other for x in self._items)

    def issuperset(self, other: Iterable[Any]) -> bool:
        return all(x in self for x in other)

    def isdisjoint(self, other: Iterable[Any]) -> bool:
        return not any(x in self for x in other)

    def union(self, *others: Iterable[Any]) -> SortedSet:
        new = self.copy()
        for other in others:
            new.update(other)
        return new

    def intersection(self, *others: Iterable[Any]) -> SortedSet:
        keep = [list(o) for o in others]
        return SortedSet(x for x in self._items if all(x in o for o in keep))

    def difference(self, *others: Iterable[Any]) -> SortedSet:
        drop = [list(o) for o in others]
        return SortedSet(x for x in self._items if not any(x in o for o in drop))

    def symmetric_difference(self, other: Iterable[Any]) -> SortedSet:
        other_set = SortedSet(other)
        return self.difference(other_set).union(other_set.difference(self))

    __le__ = issubset
    __ge__ = issuperset

    def __lt__(self, other: Any) -> bool:
        return len(self) < len(other) and self.issubset(other)

    def __gt__(self, other: Any) -> bool:
        return len(self) > len(other) and self.issuperset(other)

    def __or__(self, other: Iterable[Any]) -> SortedSet:
        return self.union(other)

    def __and__(self, other: Iterable[Any]) -> SortedSet:
        return self.intersection(other)

    def __sub__(self, other: Iterable[Any]) -> SortedSet:
        return self.difference(other)

    def __xor__(self, other: Iterable[Any]) -> SortedSet:
        return self.symmetric_difference(other)


def _totally_ordered(value: Any) -> bool:
    """Whether ``<`` on values like this one is a total order (numbers, strings, bytes,
    UUIDs, dates, tuples of those...), so that a binary search finds any member."""
    return not isinstance(value, (SortedSet, AbstractSet, Mapping, float))


sortedset = SortedSet  # cassandra-driver's lower-case alias
# a set as far as isinstance(value, collections.abc.Set) goes: encoders and the literal
# encoder take it wherever they take a set
AbstractSet.register(SortedSet)


def _pickled_key(key: Any) -> bytes:
    return pickle.dumps(key, protocol=4)


class OrderedMap(Mapping):  # type: ignore[type-arg]
    """An insertion-ordered mapping whose keys need not be hashable (a CQL
    ``map<frozen<map<int, int>>, text>`` decodes to one): each key is indexed by a serialized
    form. Compares equal to any mapping with the same items, as cassandra-driver's
    ``util.OrderedMap`` does."""

    __slots__ = ("_index", "_items")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if len(args) > 1:
            raise TypeError(f"expected at most 1 positional argument, got {len(args)}")
        self._items: list[tuple[Any, Any]] = []
        self._index: dict[Any, int] = {}
        if args:
            source = args[0]
            pairs = source.items() if isinstance(source, Mapping) else source
            for k, v in pairs:
                self._insert(k, v)
        for k, v in kwargs.items():
            self._insert(k, v)

    def _serialize_key(self, key: Any) -> Any:
        return _pickled_key(key)

    def _insert(self, key: Any, value: Any) -> None:
        flat = self._serialize_key(key)
        i = self._index.get(flat)
        if i is None:
            self._index[flat] = len(self._items)
            self._items.append((key, value))
        else:
            self._items[i] = (key, value)

    def __getitem__(self, key: Any) -> Any:
        try:
            i = self._index[self._serialize_key(key)]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise KeyError(key) from None
        return self._items[i][1]

    def __iter__(self) -> Iterator[Any]:
        for k, _ in self._items:
            yield k

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        try:
            return self._serialize_key(key) in self._index
        except (TypeError, ValueError, AttributeError, pickle.PicklingError):
            return False

    def __eq__(self, other: object) -> bool:
        if isinstance(other, OrderedMap):
            return self._items == other._items
        if isinstance(other, Mapping):
            try:
                return len(other) == len(self._items) and all(
                    k in other and other[k] == v for k, v in self._items
                )
            except TypeError:  # an unhashable key asked of a dict
                return False
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = None  # type: ignore[assignment]

    # items and values straight from the stored pairs, not by looking each key up again: a
    # key whose encoding is not canonical (a set, ordered differently than on the wire) is
    # then still listed with its value
    def items(self) -> _ItemsView:  # type: ignore[override]
        return _ItemsView(self)

    def values(self) -> _ValuesView:  # type: ignore[override]
        return _ValuesView(self)

    def popitem(self) -> tuple[Any, Any]:
        if not self._items:
            raise KeyError("popitem(): map is empty")
        k, v = self._items.pop()
        del self._index[self._serialize_key(k)]
        return k, v

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._items!r})"

    def __str__(self) -> str:
        return "{" + ", ".join(f"{k!r}: {v!r}" for k, v in self._items) + "}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (OrderedMap, (self._items,))


class _ItemsView(ItemsView):  # type: ignore[type-arg]
    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        return iter(self._mapping._items)  # type: ignore[attr-defined]


class _ValuesView(ValuesView):  # type: ignore[type-arg]
    def __iter__(self) -> Iterator[Any]:
        for _, v in self._mapping._items:  # type: ignore[attr-defined]
            yield v


class OrderedMapSerializedKey(OrderedMap):
    """An :class:`OrderedMap` whose keys are indexed by their CQL encoding (``key_encoder``),
    the form a decoded CQL map takes. cassandra-driver's constructor takes
    ``(cass_type, protocol_version)``; here the first argument may be anything with an
    ``encode`` callable for the key (a greencql map type) or the key encoder itself, and keys
    that cannot be encoded fall back to a pickled form."""

    __slots__ = ("_encode_key",)

    def __init__(self, cass_type: Any = None, protocol_version: int | None = None) -> None:
        super().__init__()
        encoder: Callable[[Any], bytes] | None = None
        if cass_type is not None:
            subtypes = getattr(cass_type, "subtypes", None)
            if subtypes:  # a map type: its key type encodes the keys
                encoder = subtypes[0].encode
            elif callable(getattr(cass_type, "encode", None)):
                encoder = cass_type.encode
            elif callable(cass_type):
                encoder = cass_type
        self._encode_key = encoder

    def _serialize_key(self, key: Any) -> Any:
        encode = self._encode_key
        if encode is not None:
            try:
                return encode(key)
            except Exception:  # a key of another type: never equal to an encoded one
                pass
        return ("pickled", _pickled_key(key))

    @classmethod
    def _decoded(cls, encode_key: Callable[[Any], bytes], items: list[tuple[Any, Any]],
                 index: dict[Any, int]) -> OrderedMapSerializedKey:
        """A map built from decoded items and their serialized keys, without __init__ (the
        driver value types' map decoder calls this once per value)."""
        new = object.__new__(cls)
        new._encode_key = encode_key
        new._items = items
        new._index = index
        return new

    def _insert_unchecked(self, key: Any, flat_key: Any, value: Any) -> None:
        self._index[flat_key] = len(self._items)
        self._items.append((key, value))

    def __reduce__(self) -> tuple[Any, ...]:
        return (OrderedMap, (self._items,))


# ============================================================================================
# Versions
# ============================================================================================

_VERSION_RE = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:\.(\d+))?(?:-(.+))?$")


class Version:
    """A Cassandra release version (``4.0.13``, ``3.11``, ``4.0.0-beta1``), compared
    numerically; a pre-release sorts before its release. Attributes as cassandra-driver's
    ``util.Version``: ``major``, ``minor``, ``patch``, ``build``, ``prerelease``."""

    __slots__ = ("_version", "build", "major", "minor", "patch", "prerelease")

    def __init__(self, version: str) -> None:
        self._version = str(version)
        match = _VERSION_RE.match(self._version.strip())
        if match is None:
            raise ValueError(f"invalid version {version!r}")
        major, minor, patch, build, pre = match.groups()
        self.major = int(major)
        self.minor = int(minor or 0)
        self.patch = int(patch or 0)
        self.build = int(build or 0)
        self.prerelease = pre or ""

    def _key(self) -> tuple[Any, ...]:
        # a release sorts after its pre-releases
        return (self.major, self.minor, self.patch, self.build, not self.prerelease,
                self.prerelease)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() == other._key()

    def __lt__(self, other: Version) -> bool:
        return self._key() < other._key()

    def __le__(self, other: Version) -> bool:
        return self._key() <= other._key()

    def __gt__(self, other: Version) -> bool:
        return self._key() > other._key()

    def __ge__(self, other: Version) -> bool:
        return self._key() >= other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Version({self.major}, {self.minor}, {self.patch})"

    def __str__(self) -> str:
        return self._version


# ============================================================================================
# Timestamps and time UUIDs
# ============================================================================================


def datetime_from_timestamp(timestamp: float) -> _dt.datetime:
    """A naive UTC datetime from a Unix timestamp in seconds (OverflowError out of range)."""
    return DATETIME_EPOC + _dt.timedelta(seconds=timestamp)


def utc_datetime_from_ms_timestamp(timestamp: int) -> _dt.datetime:
    """A naive UTC datetime from milliseconds since the epoch, as cassandra-driver's (despite
    the name, it has no tzinfo); OverflowError out of range."""
    return DATETIME_EPOC + _dt.timedelta(milliseconds=timestamp)


def ms_timestamp_from_datetime(dt: _dt.datetime) -> int:
    """Milliseconds since the epoch of a datetime (naive ones are taken as UTC)."""
    epoch = UTC_DATETIME_EPOC if dt.tzinfo is not None else DATETIME_EPOC
    delta = dt - epoch
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _uuid_ticks(time_arg: Any) -> int:
    """100 ns ticks since the UUID epoch of a datetime (aware or naive UTC) or seconds."""
    if isinstance(time_arg, _dt.datetime):
        if time_arg.tzinfo is not None:
            time_arg = time_arg.astimezone(_dt.timezone.utc).replace(tzinfo=None)
        seconds = calendar.timegm(time_arg.timetuple())
        return seconds * 10_000_000 + time_arg.microsecond * 10 + _UUID_EPOCH_OFFSET
    return int(time_arg * 1e7) + _UUID_EPOCH_OFFSET


def _time_uuid(ticks: int, node: int, clock_seq: int) -> uuid.UUID:
    time_low = ticks & 0xFFFFFFFF
    time_mid = (ticks >> 32) & 0xFFFF
    time_hi_version = ((ticks >> 48) & 0x0FFF) | 0x1000
    seq_low = clock_seq & 0xFF
    seq_hi_variant = ((clock_seq >> 8) & 0x3F) | 0x80
    return uuid.UUID(
        fields=(time_low, time_mid, time_hi_version, seq_hi_variant, seq_low, node), version=1
    )


def uuid_from_time(time_arg: Any, node: int | None = None,
                   clock_seq: int | None = None) -> uuid.UUID:
    """A version 1 UUID for ``time_arg`` (a datetime, or seconds since the epoch). ``node``
    (48 bits) and ``clock_seq`` (14 bits) are random when not given."""
    if node is None:
        node = random.getrandbits(48)
    if clock_seq is None:
        clock_seq = random.getrandbits(14)
    elif not 0 <= clock_seq < 1 << 14:
        raise ValueError(f"clock_seq is out of range (need a 14-bit value): {clock_seq}")
    return _time_uuid(_uuid_ticks(time_arg), node, clock_seq)


def min_uuid_from_time(timestamp: Any) -> uuid.UUID:
    """The smallest time UUID of ``timestamp`` as Cassandra orders them (for range queries)."""
    return _time_uuid(_uuid_ticks(timestamp), 0x808080808080, 0x80)


def max_uuid_from_time(timestamp: Any) -> uuid.UUID:
    """The largest time UUID of ``timestamp`` as Cassandra orders them (for range queries)."""
    return _time_uuid(_uuid_ticks(timestamp), 0x7F7F7F7F7F7F, 0x3F7F)


def unix_time_from_uuid1(uuid_arg: uuid.UUID) -> float:
    """Seconds since the epoch of a version 1 UUID (``time.time()`` precision)."""
    return (uuid_arg.time - _UUID_EPOCH_OFFSET) / 1e7


def datetime_from_uuid1(uuid_arg: uuid.UUID) -> _dt.datetime:
    """The naive UTC datetime of a version 1 UUID."""
    return datetime_from_timestamp(unix_time_from_uuid1(uuid_arg))


# ============================================================================================
# Function descriptors
# ============================================================================================


class SignatureDescriptor:
    """A function or aggregate named by its signature: ``name`` and the CQL
    ``argument_types`` (what ``Cluster.refresh_user_function_metadata`` takes)."""

    def __init__(self, name: str, argument_types: Sequence[str]) -> None:
        self.name = name
        self.argument_types = list(argument_types)

    @property
    def signature(self) -> str:
        return self.format_signature(self.name, self.argument_types)

    @staticmethod
    def format_signature(name: str, argument_types: Iterable[str]) -> str:
        return f"{name}({','.join(t.strip() for t in argument_types)})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}, {self.argument_types})"


class UserFunctionDescriptor(SignatureDescriptor):
    """A user-defined function, by name and argument types."""


class UserAggregateDescriptor(SignatureDescriptor):
    """A user-defined aggregate, by name and argument types."""
