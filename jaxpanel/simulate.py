"""Semi-synthetic panels calibrated to a real one (Arkhangelsky et al. 2021, Sec. 3.1.1).

:func:`calibrate` decomposes a real outcome matrix and assignment vector (Arkhangelsky et al.
2021, Sec. 3.1.1; Athey, Imbens, Qu and Viviano 2025, Sec. 3.1):

1. standardise Y by its overall mean and (population) sd;
2. rank-4 SVD: L = first four components, E = Y - L;
3. F = the two-way additive part of L (row mean + column mean - grand mean), M = L - F;
4. noise: a pooled AR(2) without intercept fitted by OLS on the rows of E (coefficients
   rounded to two decimals, as in the SDID paper), covariance ``C_st = rho_|s-t|`` (the
   AR(2) autocorrelations) scaled to ``Sigma = C ||E'E/N||_F / ||C||_F``;
5. assignment: logistic regression of D on ``sqrt(N)`` times the first four left singular
   vectors gives each unit's probability pi_i.

:func:`draw` makes one replication: ``Y = F + M + eps`` with rows of eps iid N(0, Sigma)
(optionally scaled by unit and period factors: :func:`with_heteroskedasticity`),
``D_i ~ Bernoulli(pi_i)`` with at most ``n_treated_max`` treated units kept (a random
subset; a draw with none treated picks one unit at random), treated in the last
``n_post`` periods, plus ``effect`` on the treated cells. It is pure and vmappable over
keys: one key per replication.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ._options import check_choice


@dataclass(frozen=True)
class Design:
    """A calibrated semi-synthetic design (NumPy arrays; see :func:`calibrate`).

    Attributes
    ----------
    F : (N, T) two-way additive part. M : (N, T) interactive (low-rank) part.
    sigma : (T, T) noise covariance of a row. ar : AR(2) coefficients.
    pi : (N,) assignment probabilities.
    n_treated_max, n_post : at most this many treated units, treated in the last periods.
    unit_scale, time_scale : (N,), (T,) noise sd multipliers, or None.
    """

    F: np.ndarray  # (N, T) two-way additive part
    M: np.ndarray  # (N, T) interactive (low-rank, non-additive) part
    sigma: np.ndarray  # (T, T) noise covariance of a row
    ar: tuple[float, float]  # AR(2) coefficients
    pi: np.ndarray  # (N,) assignment probabilities
    n_treated_max: int = 10
    n_post: int = 10
    unit_scale: np.ndarray | None = None  # (N,) noise sd multipliers
    time_scale: np.ndarray | None = None  # (T,) noise sd multipliers

    @property
    def shape(self) -> tuple[int, int]:
        """(N, T) of the design's panels."""
        return self.F.shape

    def scales(self) -> dict[str, float]:
        """RMS of F and M and the noise sd (the SDID paper's calibration summary)."""
        return {
            "F": float(np.sqrt(np.mean(self.F**2))),
            "M": float(np.sqrt(np.mean(self.M**2))),
            "noise": float(np.sqrt(np.mean(np.diag(self.sigma)))),
        }


def ar2_autocorrelation(phi1: float, phi2: float, n: int) -> np.ndarray:
    """Autocorrelations rho_0..rho_{n-1} of a stationary AR(2) (Yule-Walker).

    Parameters
    ----------
    phi1, phi2 : AR(2) coefficients (stationary). n : number of lags.

    Returns
    -------
    (n,) autocorrelations.
    """
    rho = np.empty(n)
    rho[0] = 1.0
    if n > 1:
        rho[1] = phi1 / (1 - phi2)
    for k in range(2, n):
        rho[k] = phi1 * rho[k - 1] + phi2 * rho[k - 2]
    return rho


def _logistic(X: np.ndarray, d: np.ndarray, iters: int = 100) -> np.ndarray:
    """Logistic regression coefficients by Newton's method."""
    beta = np.zeros(X.shape[1])
    for _ in range(iters):
        p = 1 / (1 + np.exp(-X @ beta))
        H = X.T @ (X * (p * (1 - p))[:, None]) + 1e-10 * np.eye(X.shape[1])
        step = np.linalg.solve(H, X.T @ (d - p))
        beta += step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta


def calibrate(
    Y: np.ndarray,
    D: np.ndarray,
    rank: int = 4,
    round_ar: bool = True,
    n_treated_max: int = 10,
    n_post: int = 10,
) -> Design:
    """Calibrate a design to outcomes ``Y`` (N, T) and a unit assignment ``D`` (N,).

    Parameters
    ----------
    Y : (N, T) outcomes. D : (N,) 0/1 assignment of units.
    rank : rank of the factor part (4 in the SDID paper).
    round_ar : round the AR(2) coefficients to 2 decimals (the SDID paper does).
    n_treated_max, n_post : the draw rules.

    Returns
    -------
    Design.

    References
    ----------
    Arkhangelsky et al. (2021), Sec. 3.1.1.
    """
    Y = np.asarray(Y, float)
    D = np.asarray(D, float)
    Y = (Y - Y.mean()) / Y.std()
    U, s, Vt = np.linalg.svd(Y, full_matrices=False)
    L = (U[:, :rank] * s[:rank]) @ Vt[:rank]
    E = Y - L
    F = L.mean(axis=1, keepdims=True) + L.mean(axis=0, keepdims=True) - L.mean()
    M = L - F
    # pooled AR(2) without intercept: E_t on E_{t-1}, E_{t-2}, all rows
    target = E[:, 2:].ravel()
    X = np.column_stack([E[:, 1:-1].ravel(), E[:, :-2].ravel()])
    phi = np.linalg.lstsq(X, target, rcond=None)[0]
    if round_ar:
        phi = np.round(phi, 2)
    T = Y.shape[1]
    rho = ar2_autocorrelation(phi[0], phi[1], T)
    C = rho[np.abs(np.subtract.outer(np.arange(T), np.arange(T)))]
    sigma = C * np.linalg.norm(E.T @ E / Y.shape[0]) / np.linalg.norm(C)
    N = Y.shape[0]
    Xa = np.column_stack([np.ones(N), np.sqrt(N) * U[:, :rank]])
    if D.min() == D.max():  # no variation: equal probabilities
        pi = np.full(N, D.mean())
    else:
        pi = 1 / (1 + np.exp(-Xa @ _logistic(Xa, D)))
    return Design(
        F, M, sigma, (float(phi[0]), float(phi[1])), pi, n_treated_max, n_post
    )


def with_heteroskedasticity(
    design: Design, unit: np.ndarray | None = None, time: np.ndarray | None = None
) -> Design:
    """Scale the noise sd by unit and/or period factors (normalised to mean square 1).

    Parameters
    ----------
    design : a Design. unit : (N,) noise sd factors. time : (T,) noise sd factors.

    Returns
    -------
    A copy of the design with the scales.
    """

    def norm(v):
        v = np.asarray(v, float)
        return v / np.sqrt(np.mean(v**2))

    return dataclasses.replace(
        design,
        unit_scale=None if unit is None else norm(unit),
        time_scale=None if time is None else norm(time),
    )


def draw(design: Design, key: jax.Array, effect: float = 0.0, dtype=None):
    """One replication: ``(Y, W)`` as (N, T) arrays (jit- and vmap-safe over ``key``).

    Parameters
    ----------
    design : a Design. key : PRNG key of this replication.
    effect : the true effect added on treated cells. dtype : default JAX's float.

    Returns
    -------
    ``(Y, W)`` (N, T) outcomes and 0/1 treatment.
    """
    N, T = design.shape
    dtype = jnp.zeros(()).dtype if dtype is None else dtype
    k_noise, k_assign, k_pick, k_none = jax.random.split(key, 4)
    chol = jnp.asarray(np.linalg.cholesky(design.sigma), dtype)
    eps = jax.random.normal(k_noise, (N, T), dtype) @ chol.T
    if design.unit_scale is not None:
        eps = eps * jnp.asarray(design.unit_scale, dtype)[:, None]
    if design.time_scale is not None:
        eps = eps * jnp.asarray(design.time_scale, dtype)[None, :]
    d = jax.random.uniform(k_assign, (N,)) < jnp.asarray(design.pi)
    # keep a random subset of at most n_treated_max treated units
    priority = jnp.where(d, jax.random.uniform(k_pick, (N,)), -1.0)
    rank = jnp.argsort(jnp.argsort(-priority))
    d = d & (rank < design.n_treated_max)
    fallback = jnp.arange(N) == jax.random.randint(k_none, (), 0, N)
    d = jnp.where(d.any(), d, fallback)
    post = jnp.arange(T) >= T - design.n_post
    W = (d[:, None] & post[None, :]).astype(dtype)
    Y = jnp.asarray(design.F + design.M, dtype) + eps + effect * W
    return Y, W


CPS_OUTCOMES = ("log_wage", "hours", "urate")
CPS_ASSIGNMENTS = ("min_wage", "open_carry", "abort_ban")


def cps_design(
    outcome: str = "log_wage", assignment: str = "min_wage", path=None
) -> Design:
    """The SDID paper's CPS design (Sec. 3.1.1) from R synthdid's ``CPS.csv``.

    Parameters
    ----------
    outcome : one of ``CPS_OUTCOMES``; assignment : one of ``CPS_ASSIGNMENTS``.
    path : the file ``data/CPS.csv`` of R synthdid (github.com/synth-inference/synthdid,
        ``;``-separated, 50 states x 40 years). jaxpanel does not bundle it.

    Raises
    ------
    ValueError
        No ``path``, a file that does not exist, or an unknown outcome or assignment.

    Returns
    -------
    Design calibrated to the 50 x 40 CPS panel.

    References
    ----------
    Arkhangelsky et al. (2021), Sec. 3.1.1 and Table 2.
    """
    check_choice("outcome", outcome, CPS_OUTCOMES)
    check_choice("assignment", assignment, CPS_ASSIGNMENTS)
    if path is None:
        raise ValueError(
            "cps_design needs path= to R synthdid's CPS.csv (data/CPS.csv in "
            "github.com/synth-inference/synthdid; jaxpanel does not bundle it). Fix: "
            "download it and pass cps_design(path='CPS.csv')"
        )
    if not Path(path).is_file():
        raise ValueError(f"cps_design: no such file {str(path)!r}")
    df = pd.read_csv(path, sep=";")
    Y = df.pivot(index="state", columns="year", values=outcome).to_numpy(float)
    D = df.groupby("state")[assignment].any().to_numpy(float)
    return calibrate(Y, D)


__all__ = [
    "CPS_ASSIGNMENTS",
    "CPS_OUTCOMES",
    "Design",
    "ar2_autocorrelation",
    "calibrate",
    "cps_design",
    "draw",
    "with_heteroskedasticity",
]
