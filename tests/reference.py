"""Slow, obviously-correct NumPy/SciPy references for the tests.

Nothing here is clever: dense dummy-variable design matrices and least squares.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg


def twfe_design(
    n: int, t: int, unit_fe: bool = True, time_fe: bool = True
) -> np.ndarray:
    """Dummy design for vec(Y) (row-major): intercept, N unit and T time dummies."""
    cols = [np.ones((n * t, 1))]
    if unit_fe:
        cols.append(np.kron(np.eye(n), np.ones((t, 1))))
    if time_fe:
        cols.append(np.kron(np.ones((n, 1)), np.eye(t)))
    return np.hstack(cols)


def twfe_fit(y: np.ndarray, w: np.ndarray, unit_fe=True, time_fe=True) -> np.ndarray:
    """Fitted values mu + alpha_j + beta_s of weighted least squares.

    Full-rank design: dummies of units and periods with no weight are dropped, and so is the
    first remaining unit and period dummy (the usual reference categories), so the QR-based
    solve is well posed whenever the weighted cells are connected.
    """
    n, t = y.shape
    x = twfe_design(n, t, unit_fe, time_fe)
    keep = [0]
    off = 1
    if unit_fe:
        units = np.flatnonzero(w.sum(axis=1) > 0)
        keep += [off + j for j in units[1:]]
        off += n
    if time_fe:
        times = np.flatnonzero(w.sum(axis=0) > 0)
        keep += [off + s for s in times[1:]]
    x = x[:, keep]
    sw = np.sqrt(w.ravel())
    yy = np.where(w > 0, y, 0.0).ravel()
    q, r = np.linalg.qr(x * sw[:, None])
    coef = scipy.linalg.solve_triangular(r, q.T @ (yy * sw))
    return (x @ coef).reshape(n, t)


def did_att(y: np.ndarray, d: np.ndarray, mask: np.ndarray) -> float:
    """Imputation DID: fit TWFE on untreated observed cells, average Y - Y0hat on treated."""
    control = (mask > 0) & (d == 0)
    treated = (mask > 0) & (d == 1)
    y0 = twfe_fit(np.where(control, y, 0.0), control.astype(float))
    return float(np.mean((y - y0)[treated]))
