"""Simplex-constrained least squares with optional ridge and intercept, batched.

Problem (R synthdid's ``sc.weight.fw`` objective, Arkhangelsky et al. 2021, Sec. 4.1)::

    min over x in the simplex   zeta^2 ||x||_D^2 + (1/n) ||A x - b||_r^2

with ``A`` (m, n), ``b`` (m,), optional row weights ``r`` (frequencies, default 1,
``n = sum r``), optional variable frequencies ``f`` (ridge ``||x||_D^2 = sum x_i^2 / f_i``:
the exact minimiser of the problem with variable i duplicated f_i times, its weight split
evenly), and an intercept handled by centring the columns of ``A`` and ``b`` over rows.
Because ``sum x = 1``, subtracting ``b_k`` from row k of ``A`` and from ``b`` changes
nothing; the Gram form is built from those gaps, so the solution does not depend on the
level of the data (adding a constant, or a per-row constant, to ``A`` and ``b``).
Variables may be excluded (``allowed == False``): they stay at zero.

Everything works on the Gram form ``G = A'diag(r)A``, ``g = A'diag(r)b`` computed once, so a
Frank-Wolfe step, which moves toward a single vertex, costs O(n) instead of O(m n).

Two solvers:

- :func:`frank_wolfe` / :func:`frank_wolfe_sparsified`: R synthdid's semantics exactly (exact
  line search; stop after an iteration whose decrease of the objective is at most
  ``min_decrease**2``, never before the second iteration; the sparsified version runs 100
  iterations, zeroes weights <= max/4, renormalises and restarts up to ``max_iter``).
- :func:`active_set`: the exact minimiser by a primal active-set method (equality-constrained
  QP on the support, then add the most negative multiplier or step back to feasibility), run
  until the KKT conditions hold to a relative tolerance; with ``factored`` each support's
  system is solved through a factor ``F`` of ``G = F'F`` (Woodbury, O(m^2 n) per step).

Both return the iterate, the iteration count and a status code (kernels._loop).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from . import _loop
from ._reduce import first_argmin
from ._status import CONVERGED, MAX_STEPS, NONFINITE, combine


class Problem(NamedTuple):
    """Gram form of a simplex least-squares problem (all arrays; vmappable).

    Attributes
    ----------
    G : (n, n) ``A' diag(r) A`` (of the gaps to the target; centred with an intercept).
    g : (n,) ``A' diag(r) b``. bb : () ``b' diag(r) b``.
    ridge : (n,) ``n_rows zeta^2 / f_i`` (0 where not allowed).
    allowed : (n,) bool. n_rows : () the sum of row weights.
    F : (m, n) a factor with ``G = F'F`` (``diag(sqrt r) A``), for
        :func:`active_set`'s ``factored`` solves; None where not kept.
    """

    G: jax.Array  # (n, n) A' diag(r) A (centred if intercept)
    g: jax.Array  # (n,)   A' diag(r) b
    bb: jax.Array  # ()    b' diag(r) b
    ridge: jax.Array  # (n,) n_rows * zeta^2 / f_i  (0 where not allowed)
    allowed: jax.Array  # (n,) bool
    n_rows: jax.Array  # () sum of row weights
    F: jax.Array | None = None  # (m, n) G = F'F


class Solution(NamedTuple):
    """A solve of a simplex problem: the one result type of every solver here.

    Attributes
    ----------
    x : (n,) the solution on the simplex (zero off the allowed variables).
    steps : () int32 iterations (after sparsifying, for the two-stage Frank-Wolfe).
    status : () int32 status code.
    steps_pre : () int32 iterations before sparsifying (0 where there is no such stage).
    capped : () bool, Frank-Wolfe stopped at its iteration cap (None where not known).
    gap : () Frank-Wolfe duality gap at ``x``, a bound on ``obj(x) - min`` (None where
        not computed).
    """

    x: jax.Array
    steps: jax.Array
    status: jax.Array
    steps_pre: jax.Array | None = None
    capped: jax.Array | None = None
    gap: jax.Array | None = None


def make_problem(
    A: jax.Array,
    b: jax.Array,
    zeta: jax.Array,
    intercept: bool = True,
    row_weights: jax.Array | None = None,
    col_weights: jax.Array | None = None,
    allowed: jax.Array | None = None,
) -> Problem:
    """Build the Gram form of ``min zeta^2 ||x||_D^2 + (1/n)||A x - b||_r^2`` on the simplex.

    Parameters
    ----------
    A : (m, n) design, one column per simplex variable; b : (m,) target.
    zeta : ridge scale (R synthdid's zeta); the ridge on the sum-of-squares scale is
        ``n_rows * zeta**2`` (R's ``eta``).
    intercept : static; centre A and b over rows (weighted by ``row_weights``) first.
    row_weights : (m,) non-negative frequencies of the rows (default 1).
    col_weights : (n,) non-negative frequencies of the variables (default 1); zero excludes.
    allowed : (n,) bool, variables that may be non-zero (default all).

    Returns
    -------
    Problem.
    """
    A = jnp.asarray(A)
    dtype = A.dtype
    m, n = A.shape
    r = jnp.ones(m, dtype) if row_weights is None else jnp.asarray(row_weights, dtype)
    f = jnp.ones(n, dtype) if col_weights is None else jnp.asarray(col_weights, dtype)
    ok = f > 0
    if allowed is not None:
        ok = ok & jnp.asarray(allowed, bool)
    n_rows = r.sum()
    # Subtract the target from every column, row by row: on the simplex (sum x = 1)
    # (A - b 1')x - (b - b) = Ax - b exactly, and the Gram form is then built from gaps,
    # not levels. Without this an outcome level far above its spread (Y + 1e8) cancels
    # catastrophically in x'Gx - 2g'x + b'b, and the weights depend on the level.
    A = A - b[:, None]
    b = jnp.zeros_like(b)
    if intercept:
        A = A - ((r @ A) / n_rows)[None, :]
    Ar = A * r[:, None]
    G = Ar.T @ A
    G = 0.5 * (G + G.T)
    g = Ar.T @ b
    bb = (r * b) @ b
    ridge = jnp.where(
        ok, n_rows * jnp.asarray(zeta, dtype) ** 2 / jnp.where(ok, f, 1), 0
    )
    return Problem(G, g, bb, ridge, ok, n_rows, A * jnp.sqrt(r)[:, None])


def objective(p: Problem, x: jax.Array) -> jax.Array:
    """R's ``vals``: ``zeta^2 ||x||_D^2 + (1/n)||A x - b||^2`` at ``x``.

    Parameters
    ----------
    p : Problem. x : (n,) a point on the simplex.

    Returns
    -------
    () the objective.
    """
    return (x @ p.G @ x - 2 * p.g @ x + p.bb + (p.ridge * x) @ x) / p.n_rows


def fw_gap(p: Problem, x: jax.Array) -> jax.Array:
    """Frank-Wolfe duality gap at ``x`` (objective scale): an upper bound on obj(x) - min.

    Parameters
    ----------
    p : Problem. x : (n,) a point on the simplex.

    Returns
    -------
    () the gap (objective scale).
    """
    half_grad = p.G @ x - p.g + p.ridge * x
    best = jnp.min(jnp.where(p.allowed, half_grad, jnp.inf))
    return 2 * (half_grad @ x - best) / p.n_rows


def uniform(p: Problem) -> jax.Array:
    """Uniform weights over the allowed variables (R's default start).

    Parameters
    ----------
    p : Problem.

    Returns
    -------
    (n,) weights.
    """
    a = p.allowed.astype(p.G.dtype)
    return a / a.sum()


def sparsify(x: jax.Array) -> jax.Array:
    """R synthdid's ``sparsify_function``: zero weights <= max/4, renormalise.

    Parameters
    ----------
    x : (n,) weights on the simplex.

    Returns
    -------
    (n,) sparsified weights on the simplex.
    """
    x = jnp.where(x <= jnp.max(x) / 4, 0.0, x)
    return x / x.sum()


# ---------------------------------------------------------------------------- Frank-Wolfe
def _excluded(dtype) -> float:
    # Excluded variables carry this half-gradient, so argmin never picks them; a finite
    # value survives the convex-combination updates (inf would give 0 * inf = NaN).
    return float(jnp.finfo(dtype).max) / 8


class _FWState(NamedTuple):
    x: jax.Array  # (n,) iterate
    h: (
        jax.Array
    )  # (n,) half gradient (G + R) x - g, _excluded(dtype) on excluded variables
    xQx: jax.Array  # x'(G + R)x
    gx: jax.Array  # g'x
    decrease: jax.Array  # objective decrease (R's vals scale) at the last step


class _FWLane(NamedTuple):
    """A Frank-Wolfe problem's data other than ``G`` (which lanes may share)."""

    g: jax.Array  # (n,)
    ridge: jax.Array  # (n,)
    allowed: jax.Array  # (n,) bool
    qdiag: jax.Array  # (n,) diagonal of G + R
    n_rows: jax.Array  # ()
    tol: jax.Array  # () the decrease that stops


def _fw_lane(p: Problem, tol: jax.Array) -> _FWLane:
    return _FWLane(p.g, p.ridge, p.allowed, jnp.diag(p.G) + p.ridge, p.n_rows, tol)


def _fw_init(p: Problem, x0: jax.Array) -> _FWState:
    x = jnp.where(p.allowed, x0, 0.0)
    Qx = p.G @ x + p.ridge * x
    h = jnp.where(p.allowed, Qx - p.g, _excluded(x.dtype))
    inf = jnp.asarray(jnp.inf, x.dtype)
    return _FWState(x, h, x @ Qx, p.g @ x, inf)


def _fw_step(shared, group: jax.Array, p: _FWLane, s: _FWState) -> _FWState:
    """One exact-line-search step toward the best vertex e_i (R's ``fw.step``).

    With the half gradient h maintained, a step reads one row of G (``shared[0]``, the
    problem's ``G`` at index ``group``: lanes of a batch may share one) and the iterate:
    O(n) work and memory traffic per step.
    """
    i = first_argmin(s.h)  # first minimum, as R's which.min
    # one-hot updates, element-wise (a scatter into a batched array is slower on CPU)
    hot = jnp.arange(s.x.shape[0], dtype=i.dtype) == i
    # row i of G + R minus g, read when needed (a G shared by many lanes costs O(n) per
    # lane), _excluded on excluded variables
    row = shared[0][group, i] - p.g + jnp.where(hot, p.ridge[i], 0.0)
    row = jnp.where(p.allowed, row, _excluded(row.dtype))
    xi, gi = s.x[i], p.g[i]
    Qix = s.h[i] + gi  # ((G + R) x)_i, from the half gradient h = (G + R) x - g
    xQd = Qix - s.xQx  # x'Q d with d = e_i - x
    dQd = p.qdiag[i] - 2 * Qix + s.xQx  # d'Q d = ||A d||^2 + d'R d
    grad_d = s.h[i] - (s.xQx - s.gx)  # h . d
    at_vertex = xi >= 1  # R: if (all(d.x == 0)) return(x)
    ok = (dQd > 0) & ~at_vertex
    step = jnp.clip(jnp.where(ok, -grad_d / jnp.where(ok, dQd, 1), 0.0), 0.0, 1.0)
    x = (1 - step) * s.x + jnp.where(hot, step, 0.0)
    h = (1 - step) * s.h + step * row
    # F(x) - F(x + step d), from the step itself (no cancellation of large terms)
    dec = -(2 * step * (xQd - (gi - s.gx)) + step**2 * dQd) / p.n_rows
    return _FWState(
        x, h, s.xQx + 2 * step * xQd + step**2 * dQd, s.gx + step * (gi - s.gx), dec
    )


def _fw_done(p: _FWLane, old: _FWState, new: _FWState) -> jax.Array:
    return new.decrease <= p.tol


def frank_wolfe(
    p: Problem,
    x0: jax.Array,
    min_decrease: jax.Array,
    max_iter: int = 10_000,
    compact: bool = True,
) -> Solution:
    """Frank-Wolfe with exact line search, R synthdid's ``sc.weight.fw`` semantics.

    Stops after iteration t >= 2 if the objective decreased by at most ``min_decrease**2``
    at that iteration, or after ``max_iter`` iterations (status MAX_STEPS).

    Parameters
    ----------
    p : Problem. x0 : (n,) start on the simplex.
    min_decrease : stopping scale (the decrease threshold is its square).
    max_iter : static iteration cap.
    compact : static; under ``jax.vmap``, lanes that stop leave the batch
        (:func:`kernels._loop.run_lanes`: the same iterates, each lane's own number of
        steps). False steps the batch in lockstep, cheaper where every lane takes about
        as many steps (a fixed number, no stopping rule).

    Returns
    -------
    Solution.

    References
    ----------
    Arkhangelsky et al. (2021), Sec. 4.1; R synthdid's ``fw.step`` and ``sc.weight.fw``.
    """
    tol = jnp.asarray(min_decrease, p.G.dtype) ** 2
    # lanes of a vmapped batch that stop leave it (kernels._loop.run_lanes); a G shared
    # by the lanes (placebo and bootstrap replicates) stays one copy
    lane, shared = _fw_lane(p, tol), (p.G[None],)
    if compact:
        out = _loop.run_lanes(
            _fw_step, _fw_done, _fw_init(p, x0), lane, shared, max_iter, min_steps=2
        )
    else:
        out = _loop.run(
            lambda s: _fw_step(shared, 0, lane, s),
            lambda old, new: _fw_done(lane, old, new),
            _fw_init(p, x0),
            max_steps=max_iter,
            min_steps=2,
            check_every_step=False,
        )
    return Solution(out.state.x, out.steps, out.status, jnp.zeros((), jnp.int32))


def frank_wolfe_sparsified(
    p: Problem,
    x0: jax.Array,
    min_decrease: jax.Array,
    max_iter: int = 10_000,
    max_iter_pre: int = 100,
) -> Solution:
    """R synthdid's two-stage solve: FW for ``max_iter_pre`` iterations, sparsify, FW again.

    Reaching ``max_iter_pre`` in the first stage is the design, not a failure; the status is
    the second stage's (or NONFINITE from the first).

    Parameters
    ----------
    p : Problem. x0 : (n,) start. min_decrease : as :func:`frank_wolfe`.
    max_iter, max_iter_pre : static caps of the second and first stage.

    Returns
    -------
    Solution with ``steps_pre``.

    References
    ----------
    R synthdid's ``sc.weight.fw`` with ``sparsify``.
    """
    first = frank_wolfe(p, x0, min_decrease, max_iter_pre)
    second = frank_wolfe(p, sparsify(first.x), min_decrease, max_iter)
    stage1 = jnp.where(first.status == NONFINITE, NONFINITE, CONVERGED)
    return Solution(second.x, second.steps, combine(second.status, stage1), first.steps)


class _ASState(NamedTuple):
    x: jax.Array
    free: jax.Array  # (n,) bool: the working support
    optimal: jax.Array  # () bool


def _eqp(Q: jax.Array, g: jax.Array, free: jax.Array) -> jax.Array:
    """Minimiser of x'Qx - 2g'x subject to sum(x) = 1 and x = 0 off ``free``."""
    n = Q.shape[0]
    one = free.astype(Q.dtype)
    both = free[:, None] & free[None, :]
    Qf = jnp.where(both, Q, 0.0) + jnp.diag(jnp.where(free, 0.0, 1.0))
    kkt = jnp.zeros((n + 1, n + 1), Q.dtype)
    kkt = kkt.at[:n, :n].set(Qf).at[:n, n].set(one).at[n, :n].set(one)
    rhs = jnp.concatenate([jnp.where(free, g, 0.0), jnp.ones(1, Q.dtype)])
    return jnp.linalg.solve(kkt, rhs)[:n]


def _eqp_factored(p: Problem, free: jax.Array) -> jax.Array:
    """:func:`_eqp` for ``Q = F'F + diag(ridge)`` with ridge > 0 on ``free``.

    Woodbury: ``(D + F_S'F_S)^-1 v = D^-1 v - D^-1 F_S' (I + F_S D^-1 F_S')^-1 F_S D^-1
    v``, an (m, m) Cholesky solve instead of an (n + 1, n + 1) LU: O(m^2 n) per step.
    """
    F = p.F
    m = F.shape[0]
    d = jnp.where(free, 1.0 / jnp.where(free, p.ridge, 1.0), 0.0)
    K = jnp.eye(m, dtype=F.dtype) + (F * d[None, :]) @ F.T
    L = _cholesky(K)
    v = d[:, None] * jnp.stack([jnp.where(free, p.g, 0.0), free.astype(F.dtype)], 1)
    w = jax.lax.linalg.triangular_solve(L, F @ v, left_side=True, lower=True)
    w = jax.lax.linalg.triangular_solve(
        L, w, left_side=True, lower=True, transpose_a=True
    )
    a, b = (v - d[:, None] * (F.T @ w)).T
    nu = (a.sum() - 1) / b.sum()
    return a - nu * b


def _cholesky(K: jax.Array) -> jax.Array:
    """Lower Cholesky factor of an SPD (m, m) matrix, column by column, in plain XLA ops.

    Not ``jnp.linalg.cholesky``: its LAPACK call inside the active set's loop, vmapped
    over placebo lanes, deadlocked XLA's CPU runtime (jaxlib 0.10.2, on the second or
    third call of a 1,000 x 50 exact placebo batch).
    """
    m = K.shape[0]
    idx = jnp.arange(m)

    def column(j, L):
        s = K[:, j] - L @ jnp.where(idx < j, L[j], 0.0)
        dj = jnp.sqrt(s[j])
        return L.at[:, j].set(jnp.where(idx > j, s / dj, jnp.where(idx == j, dj, 0.0)))

    return jax.lax.fori_loop(0, m, column, jnp.zeros_like(K))


def _as_step(p: Problem, eqp, qmul, tol: jax.Array, s: _ASState) -> _ASState:
    z = eqp(s.free)
    feasible = jnp.all(jnp.where(s.free, z > 0, True))

    # Feasible: move to z, then price out the variables off the support.
    grad = qmul(z) - p.g
    level = jnp.sum(jnp.where(s.free, grad, 0.0)) / jnp.sum(s.free).astype(grad.dtype)
    reduced = jnp.where(p.allowed & ~s.free, grad - level, jnp.inf)
    j = jnp.argmin(reduced)
    optimal = reduced[j] >= -tol
    free_add = s.free.at[j].set(s.free[j] | ~optimal)

    # Infeasible: step from x toward z until the first support variable hits zero, drop it.
    shrink = s.free & (z <= 0) & (s.x - z > 0)
    ratio = jnp.where(shrink, s.x / jnp.where(shrink, s.x - z, 1.0), jnp.inf)
    alpha = jnp.clip(jnp.min(ratio), 0.0, 1.0)
    x_back = s.x + alpha * (z - s.x)
    k = jnp.argmin(ratio)
    x_back = jnp.where(jnp.arange(x_back.shape[0]) == k, 0.0, x_back)
    x_back = jnp.where(s.free & (x_back > 0), x_back, 0.0)
    x_back = x_back / x_back.sum()
    free_back = s.free & (x_back > 0)

    x = jnp.where(feasible, jnp.where(s.free, z, 0.0), x_back)
    free = jnp.where(feasible, free_add, free_back)
    return _ASState(x, free, feasible & optimal)


def startable(p: Problem) -> jax.Array:
    """Whether :func:`active_set` may start from a given support: () bool.

    True where every allowed variable's ridge is above ``1e4 eps`` of the largest
    diagonal entry of ``G + diag(ridge)``: every support's equality-constrained system is
    then well conditioned (condition number below ``n / (1e4 eps)``) and the minimiser
    unique. SDID's unit weights pass; SC's and DIFP's ridge (``zeta = 1e-6 sigma``,
    1e-18..1e-26 of the diagonal) does not.

    Parameters
    ----------
    p : Problem.
    """
    Q_diag = jnp.diag(p.G) + p.ridge
    floor = 1e4 * jnp.finfo(p.G.dtype).eps * jnp.max(jnp.where(p.allowed, Q_diag, 0))
    return jnp.all(jnp.where(p.allowed, p.ridge > floor, True))


def active_set(
    p: Problem,
    tol: float | None = None,
    max_iter: int | None = None,
    x0: jax.Array | None = None,
    support: float = 0.0,
    factored: bool = False,
) -> Solution:
    """Exact minimiser by a primal active-set method.

    Without ``x0``, starts from the best vertex and adds one variable at a time, so the
    working support stays as small as the solution's (well-conditioned
    equality-constrained solves even when the ridge is tiny, as in SC). With ``x0`` (an
    approximate solution: the solution of a nearby problem, a few Frank-Wolfe steps), starts
    from its support (the allowed entries above ``support`` times its largest): each step
    adds or drops one variable and costs a dense solve, so a start near the solution's
    support saves most of them (SDID's unit weights are dense). The start is used only
    where :func:`startable` (a ridge well above rounding: SDID's unit weights, not SC's
    or DIFP's ridge of ``1e-6 sigma``, where a start's support with duplicate variables is
    singular in floating point); otherwise the best vertex.

    Converged when every excluded variable's reduced gradient is at least ``-tol`` times
    the largest absolute gradient entry at the best vertex. The default ``tol`` is
    ``50 eps`` of the dtype (1.1e-14 in float64): near the rounding floor of the
    gradient, because SC's ridge is tiny (``zeta = 1e-6 sigma``) and with more variables
    than rows every support that fits the rows exactly has reduced gradients of the
    ridge's size; a looser test stops at such a support, and which one depends on the
    start.

    Parameters
    ----------
    tol : relative KKT tolerance (default ``50 * finfo(dtype).eps``).
    max_iter : static iteration cap (default ``4 n + 20``).
    x0 : (n,) non-negative start, or None (the best vertex).
    support : the start's support is ``x0 > support * max(x0)`` (0: its positive entries;
        use a small fraction, such as 0.01, for a Frank-Wolfe iterate).
    factored : static; solve each support's system through ``p.F`` (Woodbury, an (m,
        m) Cholesky factorisation: O(m^2 n) per step instead of a dense (n + 1) LU's
        O(n^3)), and never form ``G + R`` (a ``G`` shared by many lanes stays shared).
        Only where the ridge is well above rounding on every allowed variable
        (:func:`startable`: SDID's unit weights): a tiny ridge makes the Woodbury
        identity cancel catastrophically; where it is not, the status is MAX_STEPS.

    Returns
    -------
    Solution (status MAX_STEPS if the KKT conditions did not hold within the cap).
    """
    n = p.G.shape[0]
    dtype = p.G.dtype
    max_iter = 4 * n + 20 if max_iter is None else max_iter
    if factored:
        if p.F is None:
            raise ValueError("active_set(factored=True) needs the problem's factor F")

        def qmul(v):
            return p.F.T @ (p.F @ v) + p.ridge * v

        def eqp(free):
            return _eqp_factored(p, free)
    else:
        Q = p.G + jnp.diag(p.ridge)

        def qmul(v):
            return Q @ v

        def eqp(free):
            return _eqp(Q, p.g, free)

    vertex_obj = jnp.where(p.allowed, jnp.diag(p.G) + p.ridge - 2 * p.g, jnp.inf)
    i0 = jnp.argmin(vertex_obj)
    vertex = jnp.zeros(n, dtype).at[i0].set(1.0)
    scale = jnp.maximum(
        jnp.max(jnp.abs(jnp.where(p.allowed, qmul(vertex) - p.g, 0.0))), 1e-300
    )
    if tol is None:
        tol = 50 * float(jnp.finfo(dtype).eps)
    tol_abs = jnp.asarray(tol, dtype) * scale
    x_start, free_start = vertex, vertex > 0
    if x0 is not None:  # the start's support, where it is safe to use
        x0 = jnp.where(p.allowed, jnp.asarray(x0, dtype), 0.0)
        free = p.allowed & (x0 > 0) & (x0 > support * jnp.max(x0))
        total = jnp.sum(jnp.where(free, x0, 0.0))
        warm = startable(p) & jnp.isfinite(total) & (total > 0)
        x_start = jnp.where(warm, jnp.where(free, x0, 0.0) / total, vertex)
        free_start = jnp.where(warm, free, vertex > 0)
    out = _loop.run(
        lambda s: _as_step(p, eqp, qmul, tol_abs, s),
        lambda old, new: new.optimal,
        _ASState(x_start, free_start, jnp.asarray(False)),
        max_steps=max_iter,
    )
    optimal = out.state.optimal & (startable(p) if factored else True)
    status = jnp.where(
        out.status == NONFINITE,
        NONFINITE,
        jnp.where(optimal, CONVERGED, MAX_STEPS),
    )
    return Solution(
        out.state.x, out.steps, status.astype(jnp.int32), jnp.zeros((), jnp.int32)
    )


__all__ = [
    "Problem",
    "Solution",
    "active_set",
    "frank_wolfe",
    "frank_wolfe_sparsified",
    "fw_gap",
    "make_problem",
    "objective",
    "sparsify",
    "startable",
    "uniform",
]
