import numpy as np

def scan_cells(
    data: bytes, pos: int, end: int, count: int, ncols: int
) -> tuple[np.ndarray, np.ndarray]: ...
