"""Semi-synthetic designs calibrated to a real panel, and one replication of them.

:func:`calibrate` decomposes a real outcome matrix and assignment vector (Arkhangelsky et al.
2021, Sec. 3.1.1; Athey, Imbens, Qu and Viviano 2025, Sec. 3.1, Eq. 6-8):

1. standardise Y by its overall mean and (population) sd;
2. rank-4 SVD: L = first four components, E = Y - L;
3. F = the two-way additive part of L (row mean + column mean - grand mean), M = L - F;
4. noise: a pooled AR(2) without intercept fitted by OLS on the rows of E (coefficients
   rounded to two decimals in the SDID paper, not in the TROP authors' code), covariance
   ``C_st = rho_|s-t|`` (the AR(2) autocorrelations) scaled to
   ``Sigma = C ||E'E/N||_F / ||C||_F``;
5. assignment probabilities: logistic regression of D on ``sqrt(N)`` times the first four
   left singular vectors gives each unit's pi_i.

With covariates ``X`` (K, N, T), their coefficients ``beta`` come first, from a two-way
fixed-effects regression with the covariates on the control units' cells (``D = 0``), and
steps 1-5 decompose ``Y - X beta``; a replication adds ``X beta`` back (in the
standardised units of step 1), with ``X`` held at its observed values.

:func:`draw` makes one replication: ``Y = F + M + eps`` with rows of eps iid N(0, Sigma)
(optionally scaled by unit and period factors: :func:`with_heteroskedasticity`), treated
units in the last ``n_post`` periods (staggered adoption: ``n_post`` a tuple of post-period
lengths, each treated unit adopting with one of them drawn uniformly), plus ``effect`` on
the treated cells. Assignment:

- ``"bernoulli"`` (the papers' rule): ``D_i ~ Bernoulli(pi_i)``, at most
  ``n_treated_max`` kept (a random subset), a draw with none treated picks one unit at
  random. With logistic pi this is the calibrated policy design; with pi from penalised
  SC weights, the TROP paper's "simulated" design (:func:`sc_probabilities`);
- ``"uniform"``: exactly ``n_treated_max`` units drawn uniformly (the papers' "random");
- ``"fixed"``: the units in ``treated`` (the TROP paper's "treated unit" design: the
  real treated unit, with simulated outcomes).

It is pure and vmappable over keys: one key per replication.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from jaxpanel.kernels import simplex

Assignment = Literal["bernoulli", "uniform", "fixed"]
ASSIGNMENTS = ("bernoulli", "uniform", "fixed")


@dataclass(frozen=True)
class Design:
    """A calibrated semi-synthetic design (NumPy arrays; see :func:`calibrate`).

    Attributes
    ----------
    F : (N, T) two-way additive part. M : (N, T) interactive (low-rank) part.
    sigma : (T, T) noise covariance of a row. ar : AR(2) coefficients.
    pi : (N,) assignment probabilities (``"bernoulli"`` assignment).
    n_treated_max : at most (``"bernoulli"``) or exactly (``"uniform"``) this many
        treated units. n_post : treated in the last ``n_post`` periods; a tuple of
        lengths for staggered adoption (each treated unit draws one uniformly).
    unit_scale, time_scale : (N,), (T,) noise sd multipliers, or None.
    assignment : 'bernoulli', 'uniform' or 'fixed' (see the module docstring).
    treated : (N,) bool, the treated units of the 'fixed' assignment, or None.
    X : (K, N, T) covariates, held fixed over replications, or None.
    beta : (K,) the outcome's coefficients on ``X``, in the design's standardised
        outcome units per covariate unit (a replication's outcome has ``X beta``
        added), or None.
    """

    F: np.ndarray
    M: np.ndarray
    sigma: np.ndarray
    ar: tuple[float, float]
    pi: np.ndarray
    n_treated_max: int = 10
    n_post: int | tuple[int, ...] = 10
    unit_scale: np.ndarray | None = None
    time_scale: np.ndarray | None = None
    assignment: Assignment = "bernoulli"
    treated: np.ndarray | None = None
    X: np.ndarray | None = None
    beta: np.ndarray | None = None

    def __post_init__(self):
        if (self.X is None) != (self.beta is None) or (
            self.X is not None
            and (
                np.ndim(self.X) != 3
                or np.shape(self.X)[1:] != np.shape(self.F)
                or np.shape(self.beta) != (np.shape(self.X)[0],)
            )
        ):
            raise ValueError(
                "covariates: X must be (K, N, T) like F and beta (K,), both or neither"
            )
        if self.assignment not in ASSIGNMENTS:
            raise ValueError(
                f"assignment must be one of {ASSIGNMENTS}, got {self.assignment!r}"
            )
        N, T = self.F.shape
        if isinstance(self.n_post, (list, tuple)):
            object.__setattr__(self, "n_post", tuple(int(n) for n in self.n_post))
        if not self.post_lengths or not all(1 <= n < T for n in self.post_lengths):
            raise ValueError(
                f"n_post must be in 1..{T - 1} (T = {T}), or a tuple of such lengths "
                f"(staggered adoption), got {self.n_post}"
            )
        if not 1 <= self.n_treated_max < N:
            raise ValueError(
                f"n_treated must be in 1..{N - 1} (N = {N}), got {self.n_treated_max}"
            )
        if self.assignment == "fixed" and (
            self.treated is None or not np.asarray(self.treated).any()
        ):
            raise ValueError("the 'fixed' assignment needs treated= (N,) with a unit")

    @property
    def post_lengths(self) -> tuple[int, ...]:
        """The post-period lengths the treated units draw from (one: a block design)."""
        n = self.n_post
        return tuple(sorted(set(n))) if isinstance(n, tuple) else (n,)

    @property
    def adoptions(self) -> tuple[int, ...]:
        """The possible first treated columns, increasing."""
        T = self.F.shape[1]
        return tuple(sorted(T - n for n in self.post_lengths))

    @property
    def shape(self) -> tuple[int, int]:
        """(N, T) of the design's panels."""
        return self.F.shape

    @property
    def max_treated(self) -> int:
        """The most treated units a draw has."""
        if self.assignment == "fixed":
            return int(np.asarray(self.treated).sum())
        return self.n_treated_max

    def scales(self) -> dict[str, float]:
        """RMS of F and M and the noise sd (the SDID paper's calibration summary)."""
        return {
            "F": float(np.sqrt(np.mean(self.F**2))),
            "M": float(np.sqrt(np.mean(self.M**2))),
            "noise": float(np.sqrt(np.mean(np.diag(self.sigma)))),
        }

    def statistics(self) -> dict[str, float]:
        """The TROP paper's Table 2 row: N, T, RMS of F and M, noise sd, AR(2).

        ``noise`` is ``sqrt(tr(Sigma) / T)``; ``ar1``, ``ar2`` the fitted coefficients.
        """
        N, T = self.shape
        return {"N": N, "T": T, **self.scales(), "ar1": self.ar[0], "ar2": self.ar[1]}


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


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)) without overflow (a separable fit drives |z| past 700)."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _logistic(X: np.ndarray, d: np.ndarray, iters: int = 100) -> np.ndarray:
    """Logistic regression coefficients by Newton's method."""
    beta = np.zeros(X.shape[1])
    for _ in range(iters):
        p = _sigmoid(X @ beta)
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
    X: np.ndarray | None = None,
) -> Design:
    """Calibrate a design to outcomes ``Y`` (N, T) and a unit assignment ``D`` (N,).

    Parameters
    ----------
    Y : (N, T) outcomes. D : (N,) 0/1 assignment of units (its logistic fit gives pi).
    rank : rank of the factor part (4 in both papers).
    round_ar : round the AR(2) coefficients to 2 decimals (the SDID paper does; the TROP
        authors' code does not).
    n_treated_max, n_post : the draw rules.
    X : (K, N, T) finite covariates, or None. Their coefficients are those of a two-way
        fixed-effects regression of Y on X over the control units (``D = 0``; all units
        if none is), and the factor model is calibrated to ``Y - X beta``.

    Returns
    -------
    Design with the 'bernoulli' assignment.

    Raises
    ------
    ValueError
        Y is not a finite (N, T) matrix with N >= rank + 2 and T >= 4, or D has another
        length; X is not finite (K, N, T), or a covariate is constant within the control
        units or periods (the fixed effects absorb it) or collinear with the others.

    References
    ----------
    Arkhangelsky et al. (2021), Sec. 3.1.1; Athey, Imbens, Qu and Viviano (2025),
    Sec. 3.1, Eq. (6)-(8).
    """
    Y = np.asarray(Y, float)
    D = np.asarray(D, float)
    if Y.ndim != 2 or not np.isfinite(Y).all():
        raise ValueError(
            "calibrate needs a finite (N, T) outcome matrix (a balanced panel)"
        )
    N, T = Y.shape
    if N < rank + 2 or T < 4:
        raise ValueError(f"calibrate needs N >= {rank + 2} and T >= 4, got {N} x {T}")
    if D.shape != (N,):
        raise ValueError(f"D must have one entry per unit ({N}), got shape {D.shape}")
    beta = None
    if X is not None:
        X = np.asarray(X, float)
        beta = _covariate_coefficients(Y, X, D)
        resid = Y - np.tensordot(beta, X, axes=1)
        if resid.std() <= 1e-8 * Y.std():
            raise ValueError(
                "covariates: they explain the outcome exactly (nothing is left for the "
                "factor model and the noise); drop the covariate that copies it"
            )
        Y = resid
    sd = Y.std()
    Y = (Y - Y.mean()) / sd
    U, s, Vt = np.linalg.svd(Y, full_matrices=False)
    L = (U[:, :rank] * s[:rank]) @ Vt[:rank]
    E = Y - L
    F = L.mean(axis=1, keepdims=True) + L.mean(axis=0, keepdims=True) - L.mean()
    M = L - F
    # pooled AR(2) without intercept: E_t on E_{t-1}, E_{t-2}, all rows
    target = E[:, 2:].ravel()
    lags = np.column_stack([E[:, 1:-1].ravel(), E[:, :-2].ravel()])
    phi = np.linalg.lstsq(lags, target, rcond=None)[0]
    if round_ar:
        phi = np.round(phi, 2)
    rho = ar2_autocorrelation(phi[0], phi[1], T)
    C = rho[np.abs(np.subtract.outer(np.arange(T), np.arange(T)))]
    sigma = C * np.linalg.norm(E.T @ E / N) / np.linalg.norm(C)
    Xa = np.column_stack([np.ones(N), np.sqrt(N) * U[:, :rank]])
    if D.min() == D.max():  # no variation: equal probabilities
        pi = np.full(N, D.mean())
    else:
        pi = _sigmoid(Xa @ _logistic(Xa, D))
    return Design(
        F,
        M,
        sigma,
        (float(phi[0]), float(phi[1])),
        pi,
        n_treated_max,
        n_post,
        X=X,
        beta=None if beta is None else beta / sd,
    )


def _covariate_coefficients(Y: np.ndarray, X: np.ndarray, D: np.ndarray) -> np.ndarray:
    """Two-way fixed-effects coefficients of Y on X over the control units' rows."""
    N, T = Y.shape
    if X.ndim != 3 or X.shape[1:] != (N, T) or not np.isfinite(X).all():
        raise ValueError(f"covariates must be finite (K, {N}, {T}), got {X.shape}")
    rows = D == 0 if (D == 0).sum() >= 2 else np.ones(N, bool)

    def within(a):  # balanced rows: the two-way within transformation
        a = a[..., rows, :]
        return (
            a
            - a.mean(axis=-1, keepdims=True)
            - a.mean(axis=-2, keepdims=True)
            + a.mean(axis=(-2, -1), keepdims=True)
        )

    Xw = within(X).reshape(X.shape[0], -1).T
    scale = np.sqrt((Xw**2).mean(axis=0))
    size = np.sqrt((X.reshape(X.shape[0], -1) ** 2).mean(axis=1))
    if (
        np.any(scale <= 1e-10 * np.maximum(size, 1e-300))
        or np.linalg.matrix_rank(
            Xw / np.where(scale > 0, scale, 1.0), tol=1e-8 * np.sqrt(len(Xw))
        )
        < X.shape[0]
    ):
        raise ValueError(
            "covariates: a covariate is constant within the control units or within "
            "periods (the two-way fixed effects absorb it) or collinear with the "
            "others; drop it"
        )
    return np.linalg.lstsq(Xw, within(Y).ravel(), rcond=None)[0]


def sc_probabilities(
    Y: np.ndarray, treated_unit: int, ridge: float = 0.1, n_post: int = 1
) -> np.ndarray:
    """The TROP paper's "simulated" assignment: pi from penalised SC weights.

    ``min ||y - X w||^2 + ridge ||w||^2`` over the simplex, ``y`` the treated unit's
    standardised outcomes and ``X`` the other units' over all but the last ``n_post``
    periods; pi_j = w_j for the other units and 0 for the treated one (sum pi = 1).

    Parameters
    ----------
    Y : (N, T) outcomes. treated_unit : row of the real treated unit.
    ridge : the penalty (0.1 in the authors' code). n_post : periods left out.

    Returns
    -------
    (N,) probabilities.

    References
    ----------
    Athey, Imbens, Qu and Viviano (2025), Sec. 3.1 ("four additional datasets"); the
    authors' ``SC_weights(data, treated_periods=1, reg=0.1)``.
    """
    Y = np.asarray(Y, float)
    Y = (Y - Y.mean()) / Y.std()
    N, T = Y.shape
    others = np.delete(np.arange(N), treated_unit)
    pre = T - n_post
    A = jnp.asarray(Y[others, :pre].T)
    b = jnp.asarray(Y[treated_unit, :pre])
    zeta = np.sqrt(ridge / pre)  # make_problem's ridge is n_rows * zeta^2
    w = np.asarray(simplex.active_set(simplex.make_problem(A, b, zeta, False)).x)
    pi = np.zeros(N)
    pi[others] = np.clip(w, 0.0, None)
    return pi


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


def switch(
    design: Design,
    *,
    M: bool = True,
    F: bool = True,
    noise: bool = True,
    autocorrelation: bool = True,
) -> Design:
    """The TROP paper's Table 3 variants: drop M, F, the noise or its autocorrelation.

    Parameters
    ----------
    design : a Design.
    M, F : keep the interactive / two-way part (``M=False, F=False``: "only noise");
        a covariate part ``X beta`` stays.
    noise : keep the noise (False: a noiseless panel, the authors' "no noise").
    autocorrelation : keep the AR(2) correlation (False: ``diag(diag(Sigma))``, the
        variances kept, as the authors' latest code does).

    Returns
    -------
    A copy of the design.

    References
    ----------
    Athey, Imbens, Qu and Viviano (2025), Table 3.
    """
    sigma = design.sigma
    if not autocorrelation:
        sigma = np.diag(np.diag(sigma))
    if not noise:
        sigma = np.zeros_like(sigma)
    return dataclasses.replace(
        design,
        F=design.F if F else np.zeros_like(design.F),
        M=design.M if M else np.zeros_like(design.M),
        sigma=sigma,
        ar=design.ar if autocorrelation and noise else (0.0, 0.0),
    )


def arrays(design: Design) -> dict[str, np.ndarray]:
    """The design's arrays, as :func:`draw_arrays` takes them (traced, not baked in).

    Passing them as arguments lets one compiled draw serve every design of a shape.
    """
    N, T = design.shape
    sigma = design.sigma
    chol = np.linalg.cholesky(sigma) if np.any(sigma) else np.zeros_like(sigma)
    ones_n, ones_t = np.ones(N), np.ones(T)
    treated = np.zeros(N, bool) if design.treated is None else design.treated
    base = design.F + design.M
    out = {
        "chol": chol,
        "pi": np.asarray(design.pi, float),
        "unit_scale": ones_n if design.unit_scale is None else design.unit_scale,
        "time_scale": ones_t if design.time_scale is None else design.time_scale,
        "treated": np.asarray(treated, bool),
    }
    if design.X is not None:  # held fixed: part of every replication's outcome
        base = base + np.tensordot(design.beta, design.X, axes=1)
        out["X"] = np.asarray(design.X, float)
    return {"base": base, **out}


def rules(design: Design) -> tuple:
    """The design's static draw rules: (assignment, n_treated_max, n_post)."""
    n = design.post_lengths
    return (design.assignment, design.n_treated_max, n[0] if len(n) == 1 else n)


def _treated_units(a, rules, k_assign, k_pick, k_none) -> jax.Array:
    assignment, n_max, _ = rules
    N = a["base"].shape[0]
    if assignment == "fixed":
        return a["treated"]
    if assignment == "uniform":
        u = jax.random.uniform(k_assign, (N,))
        return jnp.argsort(jnp.argsort(u)) < n_max
    d = jax.random.uniform(k_assign, (N,)) < a["pi"]
    # keep a random subset of at most n_treated_max treated units
    priority = jnp.where(d, jax.random.uniform(k_pick, (N,)), -1.0)
    rank = jnp.argsort(jnp.argsort(-priority))
    d = d & (rank < n_max)
    fallback = jnp.arange(N) == jax.random.randint(k_none, (), 0, N)
    return jnp.where(d.any(), d, fallback)


def draw_arrays(a: dict, rules: tuple, key: jax.Array, effect=0.0):
    """:func:`draw` on a design's :func:`arrays` (traced) and :func:`rules` (static).

    Parameters
    ----------
    a : :func:`arrays` of the design (as JAX arrays of the working dtype).
    rules : :func:`rules` of the design. key, effect : as :func:`draw`.

    Returns
    -------
    ``(Y, W)``.
    """
    base = a["base"]
    dtype = base.dtype
    N, T = base.shape
    k_noise, k_assign, k_pick, k_none = jax.random.split(key, 4)
    eps = jax.random.normal(k_noise, (N, T), dtype) @ a["chol"].T
    eps = eps * a["unit_scale"][:, None] * a["time_scale"][None, :]
    d = _treated_units(a, rules, k_assign, k_pick, k_none)
    if isinstance(rules[2], tuple):  # staggered: each unit draws its post length
        lengths = jnp.asarray(rules[2], jnp.int32)
        k_cohort = jax.random.fold_in(k_assign, 1)
        n = lengths[jax.random.randint(k_cohort, (N,), 0, len(rules[2]))]
        post = jnp.arange(T, dtype=jnp.int32)[None, :] >= (T - n)[:, None]
        W = (d[:, None] & post).astype(dtype)
    else:
        post = jnp.arange(T) >= T - rules[2]
        W = (d[:, None] & post[None, :]).astype(dtype)
    Y = base + eps + jnp.asarray(effect, dtype) * W
    return Y, W


def draw(design: Design, key: jax.Array, effect=0.0, dtype=None):
    """One replication: ``(Y, W)`` as (N, T) arrays (jit- and vmap-safe over ``key``).

    Parameters
    ----------
    design : a Design. key : PRNG key of this replication.
    effect : the true effect added on treated cells: a scalar, or an (N, T) array of
        cell effects (a heterogeneous effect; the ATT is its mean over treated cells).
    dtype : default JAX's float.

    Returns
    -------
    ``(Y, W)`` (N, T) outcomes (with ``X beta`` where the design has covariates,
    ``design.X``) and 0/1 treatment.
    """
    dtype = jnp.zeros(()).dtype if dtype is None else dtype
    a = {
        k: jnp.asarray(v) if v.dtype == bool else jnp.asarray(v, dtype)
        for k, v in arrays(design).items()
    }
    return draw_arrays(a, rules(design), key, effect)


__all__ = [
    "ASSIGNMENTS",
    "Design",
    "ar2_autocorrelation",
    "arrays",
    "calibrate",
    "draw",
    "draw_arrays",
    "rules",
    "sc_probabilities",
    "switch",
    "with_heteroskedasticity",
]
