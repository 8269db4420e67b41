"""TROP: the triply robust panel estimator.

Athey, Imbens, Qu and Viviano (2025), arXiv 2508.21536.

Paper version (``variant="paper"``, the default; Eq. 2-3 and, for several treated cells,
Eq. 13 / Algorithm 2): every treated observed cell (i, t) gets its own fit of::

    min over mu, alpha, beta, L of
        sum_js omega_j theta_s (1 - W_js) O_js (Y_js - mu - alpha_j - beta_s - L_js)^2
        + lambda_nn ||L||_*

with ``theta_s = exp(-lambda_time |t - s|)`` and ``omega_j = exp(-lambda_unit
dist_{-t}(j, i))`` (``_weights``), then ``tau_it = Y_it - mu - alpha_i - beta_t
- L_it`` and ATT = the mean of ``tau_it`` over treated cells. The treated cells are one
batch (``jax.vmap``, chunked to memory). Any design works: block, staggered, on/off, and
unbalanced panels (missing cells have zero weight).

Global variant (``variant="global"``, the authors' ``trop`` package, ``TROP_TWFE_average``):
one fit with weights ``exp(-lambda_unit d_j - lambda_time d_s)`` on control cells, ``d_j``
the RMS gap to the average treated trajectory over the pre-periods and ``d_s`` the distance
to the centre of the treated block; ATT = the mean residual over treated cells. Block
designs only.

Simulation variant (``variant="simulation"``, the authors' simulation notebooks,
``methods.py``'s ``TROP_TWFE_average``, which produced the paper's simulation tables): the
global variant's distances and one fit, but over every cell, treated ones included, with
one shared effect ``tau W_js`` in the model and ``exp(-lambda_unit d_j - lambda_time d_s)``
inside the square (:func:`fit_simulation`); ATT = tau. At fixed lambdas only.

Which form reproduces what: the paper version is the estimator the paper defines (Eq. 2,
13); "global" is the ``trop`` package's ``TROP_TWFE_average`` (control cells only);
"simulation" is what the TROP paper's simulation tables (Tables 1-3, 5) were computed with.

Lambda scales. ``lambda_time`` is per period and ``lambda_unit`` per outcome unit (the
distances are RMS outcome gaps); ``lambda_nn`` multiplies ``||L||_*`` against the
unnormalised weighted sum of squares above (the paper's and both packages' scale; MC's
``lam`` is ``lambda_nn / |O|``). ``lambda_nn = inf`` drops L, ``0`` leaves it unpenalised
(see ``kernels.lowrank``). For the global variant, ``squared_weights=False`` (default) is
the package's scale: the weight multiplies the squared residual. ``squared_weights=True``
takes the notebooks' weight scale, ``exp(-lambda_unit d_j - lambda_time d_s)`` inside the
square: the same fit as the package's with lambdas twice as large. It keeps the package's
control-cells-only fit, so it does not reproduce the notebooks' numbers: their form, with
the treated cells in the loss, is ``variant="simulation"`` (on PWT's designs the two differ
by a third of the RMSE).

Tuning (``_tuning``, ``_criteria``): leave-one-out over control cells (Eq. 4-5,
the default for the paper version) or the package's placebo RMSE (the default for the
global variant), searched coordinate-wise (the paper's footnote 2) or over the full grid.
"""

from ._criteria import placebo_sets
from ._estimate import estimate, replicator, requirements
from ._fitting import (
    VARIANTS,
    TROPOptions,
    cell_path,
    count_cells,
    fit,
    fit_global,
    fit_simulation,
    one_fit,
)
from ._fitting import (
    _fit as _fit,  # the per-cell fit with a static number of cells (tests, benches)
)
from ._tuning import CVS, SEARCHES, default_grid

__all__ = [
    "CVS",
    "SEARCHES",
    "VARIANTS",
    "TROPOptions",
    "cell_path",
    "count_cells",
    "default_grid",
    "estimate",
    "fit",
    "fit_global",
    "fit_simulation",
    "one_fit",
    "placebo_sets",
    "replicator",
    "requirements",
]
