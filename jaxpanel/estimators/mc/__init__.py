"""MC: matrix completion with a nuclear-norm penalty.

Athey, Bayati, Doudchenko, Imbens and Khosravi (2021), JASA.

On the control cells ``O`` (untreated and observed)::

    min over L, u, v of  (1 / |O|) sum_{O} (Y - L - u 1' - 1 v')^2 + lam ||L||_*      (3.3)

with unpenalised unit and time effects; ``Y(0)`` on treated cells is the fitted
``L + u 1' + 1 v'`` and the ATT the mean of ``Y - Y(0)`` over treated cells. ``lam`` is on
this scale (R MCPanel's); the kernels' unnormalised penalty is ``lambda_nn = lam |O|``.

The penalty is chosen by K-fold cross-validation (MCPanel's ``mcnnm_cv``): each fold trains on
a random ~``cv_ratio`` of the control cells and predicts the rest; the penalty path has
``num_lambda - 1`` points log-spaced over three decades down from the smallest penalty that
gives ``L = 0`` on every fold (the largest of the folds' ``2 sigma_max(P_O(Y - u - v)) / |O|``),
then 0; the chosen penalty minimises the root of the fold-averaged validation MSE.

Two solvers:

- ``"mcpanel"`` (default): MCPanel's own iteration and stopping rule (``kernels.mcpanel``),
  which stops well short of the optimum; it reproduces R MCPanel's CV curve, penalty and ATT
  (Prop 99: -19.99641 with 100 penalties, -20.21813 with 20).
- ``"exact"``: the same objective solved to convergence (``kernels.lowrank``: FISTA with the
  fixed effects profiled out exactly); every (fold, penalty) fit is one independent lane of
  a single batch. On Prop 99 it picks the same penalty index; the converged fit moves the
  ATT by 0.04 (100 penalties) and 0.28 (20).

Folds: by default MCPanel's own 0/1 draws (C++ ``std::default_random_engine`` with its
default seed, ``std::bernoulli_distribution(cv_ratio)``, filled fold by fold, unit by unit,
period by period) over the rows laid out as R synthdid's ``panel.matrices`` does (never-
treated units first, then treated units, each in panel order), which is what makes the R
numbers reproducible; pass ``cv_seed`` for JAX-random folds instead (``seed`` draws
the variance replicates only).
"""

from ._cv import MCCV, cv, fit_cv, fold_draws, panel_fold_draws
from ._estimate import estimate, replicator
from ._fit import CV_PATHS, SOLVERS, MCOptions, fit

__all__ = [
    "CV_PATHS",
    "MCCV",
    "SOLVERS",
    "MCOptions",
    "cv",
    "estimate",
    "fit",
    "fit_cv",
    "fold_draws",
    "panel_fold_draws",
    "replicator",
]
