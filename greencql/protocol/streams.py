"""Stream ids of one connection: which are free, in flight, or orphaned.

Owns the bookkeeping only. It does not know requests, timers or sockets: the connection (pool
layer) calls :meth:`StreamIdAllocator.acquire` before writing a request, :meth:`release` when
its response arrives, :meth:`orphan` when the caller gave up waiting, and :meth:`reset` when the
connection closes.

Rules it keeps:

- an id is handed out only when free: never while in flight, never while orphaned. A request
  that timed out on the client may still be answered by the server; if its id were reused, the
  late answer would be delivered to the next caller (another caller's rows). So an orphaned id
  stays reserved until its late response arrives (``release``) or the connection closes
  (``reset``);
- releasing an id that is not in use is a bug of the caller and raises ``ValueError`` (a
  double release would put the id twice on the free stack and hand it to two callers);
- every operation is O(1). Free ids live on a stack (most recently released first, which keeps
  the ids in use small); ids never used yet come from a high-water mark, so a connection that
  never has more than 10 requests in flight never allocates bookkeeping for 32,768 ids.

Protocol v3+ stream ids are signed 16-bit; requests use 0..32767 (negative ids belong to the
server: EVENT frames carry -1).
"""

from __future__ import annotations

__all__ = ["StreamIdAllocator", "MAX_STREAM_IDS", "DEFAULT_MAX_STREAM_IDS"]

#: ids 0..32767: every non-negative signed 16-bit stream id (protocol v3+)
MAX_STREAM_IDS = 32768
#: by default a connection may use them all; pools usually cap in-flight requests far lower
DEFAULT_MAX_STREAM_IDS = MAX_STREAM_IDS

_FREE = 0
_IN_FLIGHT = 1
_ORPHANED = 2


class StreamIdAllocator:
    """Hands out the stream ids of one connection, O(1) per operation.

    ``acquire()`` returns ``None`` when every id is in flight or orphaned: the caller (the
    pool) decides whether to wait or to use another connection.
    """

    __slots__ = ("_free", "_high", "_in_flight", "_orphaned", "_state", "max_streams")

    def __init__(self, max_streams: int = DEFAULT_MAX_STREAM_IDS) -> None:
        if not 1 <= max_streams <= MAX_STREAM_IDS:
            raise ValueError(f"max_streams must be within 1..{MAX_STREAM_IDS}, not {max_streams}")
        self.max_streams = max_streams
        self._free: list[int] = []  # released ids, reused last-in first-out
        self._state = bytearray()  # state of ids 0.._high-1
        self._high = 0  # ids >= _high were never handed out
        self._in_flight = 0
        self._orphaned = 0

    # -- counts --------------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Ids handed out and not yet released or orphaned."""
        return self._in_flight

    @property
    def orphaned(self) -> int:
        """Ids whose caller gave up; reserved until their late response or a reset."""
        return self._orphaned

    @property
    def available(self) -> int:
        """How many more ids ``acquire()`` can hand out right now."""
        return self.max_streams - self._in_flight - self._orphaned

    def __len__(self) -> int:
        """Ids in use (in flight or orphaned)."""
        return self._in_flight + self._orphaned

    def is_in_flight(self, stream_id: int) -> bool:
        return 0 <= stream_id < self._high and self._state[stream_id] == _IN_FLIGHT

    def is_orphaned(self, stream_id: int) -> bool:
        return 0 <= stream_id < self._high and self._state[stream_id] == _ORPHANED

    # -- operations ----------------------------------------------------------------------------

    def acquire(self) -> int | None:
        """A free stream id, now in flight; ``None`` when there is none."""
        if self._free:
            stream_id = self._free.pop()
            self._state[stream_id] = _IN_FLIGHT
        elif self._high < self.max_streams:
            stream_id = self._high
            self._high += 1
            self._state.append(_IN_FLIGHT)
        else:
            return None
        self._in_flight += 1
        return stream_id

    def release(self, stream_id: int) -> None:
        """The response for ``stream_id`` arrived (on time, or late for an orphaned id): the
        id is free again. Releasing a free (or never handed out) id raises ``ValueError``."""
        state = self._state_of(stream_id)
        if state == _IN_FLIGHT:
            self._in_flight -= 1
        elif state == _ORPHANED:
            self._orphaned -= 1
        else:
            raise ValueError(f"stream id {stream_id} released but not in use (double release?)")
        self._state[stream_id] = _FREE
        self._free.append(stream_id)

    def orphan(self, stream_id: int) -> None:
        """The caller of ``stream_id`` gave up (client timeout): keep the id reserved until its
        late response arrives (:meth:`release`) or the connection closes (:meth:`reset`)."""
        state = self._state_of(stream_id)
        if state != _IN_FLIGHT:
            what = "already orphaned" if state == _ORPHANED else "not in flight"
            raise ValueError(f"stream id {stream_id} cannot be orphaned: {what}")
        self._state[stream_id] = _ORPHANED
        self._in_flight -= 1
        self._orphaned += 1

    def reset(self) -> None:
        """The connection closed: no response can arrive any more, every id is free."""
        self._free.clear()
        self._state = bytearray()
        self._high = 0
        self._in_flight = 0
        self._orphaned = 0

    def _state_of(self, stream_id: int) -> int:
        if not 0 <= stream_id < self._high:
            return _FREE
        return self._state[stream_id]

    def __repr__(self) -> str:
        return (
            f"<StreamIdAllocator in_flight={self._in_flight} orphaned={self._orphaned} "
            f"max={self.max_streams}>"
        )
