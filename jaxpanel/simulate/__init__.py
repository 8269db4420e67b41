"""Semi-synthetic panels calibrated to real ones, and the papers' designs as presets.

- :mod:`~jaxpanel.simulate._design`: :class:`Design`, :func:`calibrate`, :func:`draw` (one
  replication per key, vmappable), assignments ('bernoulli', 'uniform', 'fixed'), the TROP
  paper's switches (:func:`switch`) and heteroskedastic noise.
- presets: :func:`cps`, :func:`pwt` (from R synthdid's files, given by path),
  :func:`germany`, :func:`basque` (from pysyncon's files, given by path) and
  :func:`prop99` (bundled); :func:`single_unit` for any one-treated-unit panel.

References
----------
Arkhangelsky, Athey, Hirshberg, Imbens and Wager (2021), Sec. 3.1.1; Athey, Imbens, Qu
and Viviano (2025), Sec. 3.1 and Tables 2-3.
"""

from ._design import (
    ASSIGNMENTS,
    Design,
    ar2_autocorrelation,
    arrays,
    calibrate,
    draw,
    draw_arrays,
    rules,
    sc_probabilities,
    switch,
    with_heteroskedasticity,
)
from ._presets import (
    CPS_ASSIGNMENTS,
    CPS_OUTCOMES,
    PRESETS,
    PROP99_ASSIGNMENTS,
    PWT_ASSIGNMENTS,
    PWT_OUTCOMES,
    basque,
    cps,
    cps_design,
    germany,
    prop99,
    pwt,
    single_unit,
)

__all__ = [
    "ASSIGNMENTS",
    "CPS_ASSIGNMENTS",
    "CPS_OUTCOMES",
    "PRESETS",
    "PROP99_ASSIGNMENTS",
    "PWT_ASSIGNMENTS",
    "PWT_OUTCOMES",
    "Design",
    "ar2_autocorrelation",
    "arrays",
    "basque",
    "calibrate",
    "cps",
    "cps_design",
    "draw",
    "draw_arrays",
    "germany",
    "prop99",
    "pwt",
    "rules",
    "sc_probabilities",
    "single_unit",
    "switch",
    "with_heteroskedasticity",
]
