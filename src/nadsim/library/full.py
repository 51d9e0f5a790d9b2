"""The full model: nad_core's NAD+ metabolome plus the mechanism modules and HAM-D endpoint.

``build_full()`` composes ``nad_core.parts()`` with ``mechanisms.parts()`` into one
:class:`~nadsim.model.Model`. The metabolome's own reactions are taken unchanged; the mechanism
modules read NAD+ and nicotinamide species and feed back only through two gated fluxes
(clock-driven brain NAMPT, moiety-balanced; kynurenine-pathway de novo supply, a boundary flux
that is zero at baseline).

The mechanism signals are normalised to reference NAD+/nicotinamide levels (``NADref_b`` ...). They
are set here to the undosed nad_core steady state, so that at baseline every signal sits exactly at
its reference and the patient profile (CRP, HAM-D) is reproduced. That one baseline solve is why
the library sits above the engine.

``apply_profile(model, crp_mg_L=, hamd=, age=, sleep=)`` sets a patient's baseline.
"""

from __future__ import annotations

import math
from functools import lru_cache

from nadsim._errors import InputError
from nadsim.library.mechanisms import model as mech
from nadsim.library.nad_core import model as core
from nadsim.model import Model
from nadsim.simulate import compile_model, reference_steady_states

__all__ = ["PROFILE_RANGES", "apply_profile", "build_full", "with_trial_arm"]

#: profile option -> (parameter, low, high, unit text, CLI option)
PROFILE_RANGES: dict[str, tuple[str, float, float, str, str]] = {
    "crp_mg_L": ("CRP0", 0.05, 50.0, "mg/L", "--crp"),
    "hamd": ("HAMD0", 0.0, 52.0, "HAM-D-17 points", "--hamd"),
    "age": ("age", 18.0, 100.0, "years", "--age"),
    "sleep": ("PSQI0", 0.0, 21.0, "PSQI global score", "--sleep"),
}

_REFERENCES = {"NADref_b": "NAD_b", "NAMref_b": "NAM_b", "NADref_wbc": "NAD_wbc", "NAMref_p": "NAM_p"}


def _nad_core_baseline(core_model: Model) -> dict[str, float]:
    # the reference steady state: pseudo-transient continuation in NumPy (~50 ms), so that
    # building the model compiles nothing and imports no integrator
    cm = compile_model(core_model)
    Y, ok = reference_steady_states(cm, cm.base_parameters()[None, :])
    if not ok[0]:  # pragma: no cover - the shipped tables have a steady state (tested)
        raise InputError("parameters", "a nad_core table with an undosed steady state", core_model.hash())
    return {ref: float(Y[0, cm.sidx(sp)]) for ref, sp in _REFERENCES.items()}


@lru_cache(maxsize=1)
def build_full() -> Model:
    """Build and self-check nad_core + mechanisms (cached; models are immutable)."""
    cp = core.parts()
    nampt_b = next(r.rate for r in cp["reactions"] if r.name == "NAMPT_b")
    mp = mech.parts(nampt_b)
    params = dict(cp["parameters"])
    clash = set(params) & set(mp["parameters"])
    if clash:  # pragma: no cover - guards future edits of either table
        raise InputError("parameters", "distinct names in nad_core and mechanisms", sorted(clash))
    params.update(mp["parameters"])
    refs = _nad_core_baseline(core.build())
    for name, value in refs.items():
        params[name] = params[name].with_value(value)
    return Model(
        name="nadsim_full",
        description=(__doc__ or "") + "\n" + (mech.__doc__ or ""),
        compartments=cp["compartments"],
        species=cp["species"],
        reactions=cp["reactions"] + mp["reactions"],
        parameters=params,
        states=mp["states"],
        rules=cp["rules"] + mp["rules"],
        links=mp["links"],
        dose_targets=cp["dose_targets"],
        infusion_inputs=cp["infusion_inputs"],
        outputs=cp["outputs"] + mp["outputs"],
    )


def _check(option: str, value: float | None) -> float | None:
    if value is None:
        return None
    _, lo, hi, unit, cli = PROFILE_RANGES[option]
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(cli, f"a number in {unit} between {lo:g} and {hi:g}", value) from None
    if not math.isfinite(v) or not (lo <= v <= hi):
        raise InputError(cli, f"between {lo:g} and {hi:g} {unit}", value)
    return v


def apply_profile(model: Model, crp_mg_L: float | None = None, hamd: float | None = None,
                  age: float | None = None, sleep: float | None = None) -> Model:
    """A model for one patient profile.

    Parameters
    ----------
    crp_mg_L : baseline hs-CRP (mg/L, 0.05-50); the IL-6 drive is derived so CRP's steady state equals it.
    hamd : baseline HAM-D-17 (0-52 points).
    age : years (18-100); sets the intrinsic clock amplitude.
    sleep : baseline PSQI global score (0-21; >5 is poor sleep).

    Raises
    ------
    InputError naming the CLI option (``--crp``, ``--hamd``, ``--age``, ``--sleep``) when out of range.
    """
    updates: dict[str, float] = {}
    for option, value in (("crp_mg_L", crp_mg_L), ("hamd", hamd), ("age", age), ("sleep", sleep)):
        v = _check(option, value)
        if v is not None:
            param = PROFILE_RANGES[option][0]
            if param not in model.parameters:
                raise InputError(PROFILE_RANGES[option][4], "used with a model that has the mechanism modules",
                                 model.name)
            updates[param] = v
    return model.with_parameters(updates) if updates else model


def with_trial_arm(model: Model, *, start_h: float = 0.0) -> Model:
    """The patient enters a treatment arm at ``start_h`` (active or placebo drip: expectancy applies)."""
    if "trial_on" not in model.parameters:
        raise InputError("--placebo", "used with a model that has the HAM-D endpoint", model.name)
    if not (math.isfinite(start_h) and start_h >= 0):
        raise InputError("start", "a time >= 0 h", start_h)
    return model.with_parameters(trial_on=1.0, t_trial_start=float(start_h))
