# cython: boundscheck=False, wraparound=False, cdivision=True
"""Cython twin of :func:`greencql.protocol.columnar.scan_cells` (same name, signature, results
and errors): the cell offsets of a ROWS body in one C loop.

Only the scan is compiled: it is the one step of columnar decoding that cannot be vectorized
(each cell's offset depends on the lengths before it). NumPy is used at the Python level only
(no NumPy headers are needed to build this module).
"""

from libc.stdint cimport int64_t, uint8_t

import numpy as np

from greencql.errors import MalformedError, TruncatedError


def scan_cells(data, Py_ssize_t pos, Py_ssize_t end, Py_ssize_t count, Py_ssize_t ncols):
    """The start offset and the length (negative: NULL) of every cell of ``count`` rows of
    ``ncols`` cells in ``data[pos:end]``, as two int64 arrays of shape (count, ncols). The
    cells must fill ``data[pos:end]`` exactly."""
    cdef const uint8_t[::1] buf = data
    cdef Py_ssize_t total = count * ncols
    cdef Py_ssize_t i
    cdef int64_t n
    cdef const uint8_t *p
    if end > buf.shape[0]:
        raise TruncatedError(f"rows end at {end}, past a body of {buf.shape[0]} bytes")
    starts_arr = np.empty(total, dtype=np.int64)
    lengths_arr = np.empty(total, dtype=np.int64)
    cdef int64_t[::1] starts = starts_arr
    cdef int64_t[::1] lengths = lengths_arr
    for i in range(total):
        if pos + 4 > end:
            raise TruncatedError(
                f"row {i // ncols}, column {i % ncols}: cell length past the end ({end})"
            )
        p = &buf[pos]
        n = <int64_t><int>((<unsigned int>p[0] << 24) | (<unsigned int>p[1] << 16)
                           | (<unsigned int>p[2] << 8) | <unsigned int>p[3])
        pos += 4
        starts[i] = pos
        lengths[i] = n
        if n > 0:
            pos += n
            if pos > end:
                raise TruncatedError(
                    f"row {i // ncols}, column {i % ncols}: cell of {n} bytes at offset "
                    f"{pos - n} past the end ({end})"
                )
    if pos != end:
        raise MalformedError(f"{end - pos} bytes after the last row")
    return starts_arr.reshape(count, ncols), lengths_arr.reshape(count, ncols)
