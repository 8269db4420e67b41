"""Slow NumPy reference of R synthdid's weights and estimate (controls first, treated last).

Written from the algorithm's definition (Arkhangelsky et al. 2021, Algorithm 1, and the R
package's documented solver): dense matrices, a fresh A @ x every iteration, no Gram tricks.
"""

from __future__ import annotations

import numpy as np
import scipy.optimize


def fw(A, b, zeta, intercept=True, x0=None, min_decrease=1e-3, max_iter=1000):
    """Frank-Wolfe with exact line search for zeta^2||x||^2 + ||Ax - b||^2 / m on the simplex."""
    m, n = A.shape
    if intercept:
        A = A - A.mean(axis=0)
        b = b - b.mean()
    eta = m * zeta**2
    x = np.full(n, 1.0 / n) if x0 is None else np.array(x0, float)
    vals = []
    t = 0
    while t < max_iter and (t < 2 or vals[-2] - vals[-1] > min_decrease**2):
        t += 1
        Ax = A @ x
        half_grad = (Ax - b) @ A + eta * x
        i = int(np.argmin(half_grad))
        dx = -x.copy()
        dx[i] = 1 - x[i]
        if np.any(dx != 0):
            derr = A[:, i] - Ax
            step = -(half_grad @ dx) / (derr @ derr + eta * dx @ dx)
            x = x + min(1.0, max(0.0, step)) * dx
        err = A @ x - b
        vals.append(zeta**2 * x @ x + err @ err / m)
    return x, t


def sparsify(x):
    x = np.where(x <= x.max() / 4, 0.0, x)
    return x / x.sum()


def synthdid(Y, N0, T0, kind="sdid"):
    """R's synthdid_estimate / sc_estimate / difp (as in the reference file) on Y (N, T)."""
    N, T = Y.shape
    N1, T1 = N - N0, T - T0
    noise = np.std(np.diff(Y[:N0, :T0], axis=1), ddof=1)
    eta_omega = (N1 * T1) ** 0.25 if kind == "sdid" else 1e-6
    zeta_omega, zeta_lambda = eta_omega * noise, 1e-6 * noise
    min_dec = 1e-5 * noise
    # collapsed form: controls x (pre, post mean) and the treated mean row
    Yc = np.vstack(
        [
            np.hstack([Y[:N0, :T0], Y[:N0, T0:].mean(axis=1, keepdims=True)]),
            np.hstack([Y[N0:, :T0].mean(axis=0), [Y[N0:, T0:].mean()]])[None, :],
        ]
    )

    def two_stage(A, b, zeta, intercept):
        x, t1 = fw(A, b, zeta, intercept, None, min_dec, 100)
        x, t2 = fw(A, b, zeta, intercept, sparsify(x), min_dec, 10_000)
        return x, (t1, t2)

    if kind == "sdid":
        lam, _ = two_stage(Yc[:N0, :T0], Yc[:N0, T0], zeta_lambda, True)
    elif kind == "difp":
        lam = np.full(T0, 1.0 / T0)
    else:
        lam = np.zeros(T0)
    omega, _ = two_stage(Yc[:N0, :T0].T, Yc[N0, :T0], zeta_omega, kind != "sc")
    w_unit = np.concatenate([-omega, np.full(N1, 1.0 / N1)])
    w_time = np.concatenate([-lam, np.full(T1, 1.0 / T1)])
    return float(w_unit @ Y @ w_time), omega, lam


def simplex_qp(A, b, zeta, intercept=True):
    """Exact minimiser by SciPy's SLSQP (tight tolerance), for comparison of objectives."""
    m, n = A.shape
    if intercept:
        A = A - A.mean(axis=0)
        b = b - b.mean()

    def f(x):
        r = A @ x - b
        return zeta**2 * x @ x + r @ r / m

    def grad(x):
        return 2 * zeta**2 * x + 2 * A.T @ (A @ x - b) / m

    res = scipy.optimize.minimize(
        f,
        np.full(n, 1.0 / n),
        jac=grad,
        method="SLSQP",
        bounds=[(0, 1)] * n,
        constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1}],
        options={"ftol": 1e-15, "maxiter": 2000},
    )
    return res.x, f(res.x)


def synthdid_covariates(Y, X, N0, T0, kind="sdid", max_iter=10_000):
    """R's synthdid_estimate with covariates X (K, N, T), already standardised.

    ``sc.weight.fw.covariates`` written out: collapsed forms, one ``fw.step`` per weight
    vector and a gradient step of size 1/t on beta per iteration, R's stopping rule.
    """
    N, T = Y.shape
    N1, T1 = N - N0, T - T0
    noise = np.std(np.diff(Y[:N0, :T0], axis=1), ddof=1)
    eta_omega = (N1 * T1) ** 0.25 if kind == "sdid" else 1e-6
    zo, zl = eta_omega * noise, 1e-6 * noise
    min_dec = 1e-5 * noise

    def collapse(Z):
        return np.vstack(
            [
                np.hstack([Z[:N0, :T0], Z[:N0, T0:].mean(axis=1, keepdims=True)]),
                np.hstack([Z[N0:, :T0].mean(axis=0), [Z[N0:, T0:].mean()]])[None, :],
            ]
        )

    Yc = collapse(Y)
    Xc = np.stack([collapse(x) for x in X])

    def step(A, x, b, eta):
        Ax = A @ x
        hg = (Ax - b) @ A + eta * x
        i = int(np.argmin(hg))
        d = -x.copy()
        d[i] = 1 - x[i]
        if np.all(d == 0):
            return x
        derr = A[:, i] - Ax
        s = -(hg @ d) / (derr @ derr + eta * d @ d)
        return x + min(1.0, max(0.0, s)) * d

    update_lambda = kind == "sdid"
    lam = np.full(T0, 1.0 / T0) if kind != "sc" else np.zeros(T0)
    omega = np.full(N0, 1.0 / N0)
    beta = np.zeros(len(X))

    def update(Yb, lam, omega):
        Yl = Yb[:N0] - Yb[:N0].mean(axis=0)
        if update_lambda:
            lam = step(Yl[:, :T0], lam, Yl[:, T0], N0 * zl**2)
        err_l = Yl @ np.append(lam, -1)
        Yo = Yb[:, :T0].T
        if kind != "sc":
            Yo = Yo - Yo.mean(axis=0)
        omega = step(Yo[:, :N0], omega, Yo[:, N0], T0 * zo**2)
        err_o = Yo @ np.append(omega, -1)
        val = (
            zo**2 * omega @ omega
            + zl**2 * lam @ lam
            + err_o @ err_o / T0
            + err_l @ err_l / N0
        )
        return lam, omega, err_l, err_o, val

    lam, omega, err_l, err_o, _ = update(Yc, lam, omega)
    vals = []
    t = 0
    while t < max_iter and (t < 2 or vals[-2] - vals[-1] > min_dec**2):
        t += 1
        grad = -np.array(
            [
                err_l @ x[:N0] @ np.append(lam, -1) / N0
                + err_o @ x[:, :T0].T @ np.append(omega, -1) / T0
                for x in Xc
            ]
        )
        beta = beta - grad / t
        lam, omega, err_l, err_o, val = update(
            Yc - np.tensordot(beta, Xc, 1), lam, omega
        )
        vals.append(val)
    Yadj = Y - np.tensordot(beta, X, 1)
    w_unit = np.concatenate([-omega, np.full(N1, 1.0 / N1)])
    w_time = np.concatenate([-lam, np.full(T1, 1.0 / T1)])
    return float(w_unit @ Yadj @ w_time), beta, t
