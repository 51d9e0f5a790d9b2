"""Power over n after a run: replicate trials drawn again from a finished run's digital twins
(``nadsim trial power``), and the runs of the registry with their live status."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nadsim._errors import InputError
from nadsim._files import atomic_write_text, json_safe
from nadsim.trial._lock import lock_holder
from nadsim.trial._power import n_for_power, power_curve
from nadsim.trial._registry import RUN_ARG, Registry
from nadsim.trial._results import _measurement, load_chunks
from nadsim.trial._run import effective_spec, endpoint_outputs, resolve_run, trial_model
from nadsim.trial._spec import POWER_TARGET, REPLICATES
from nadsim.trial._twins import PotentialOutcomes, true_effect

__all__ = ["list_runs", "power_from_run"]


def power_from_run(run: str, *, target: float = 0.8, replicates: int = 1000,
                   grid: list[int] | None = None) -> dict[str, Any]:
    """Power over ``grid`` (default: the trial's) for each active arm against the control, from
    the run's twins; also writes ``power.json`` into the run's directory and returns its content."""
    if not POWER_TARGET[0] < target < POWER_TARGET[1]:
        raise InputError("--target", f"a power in ({POWER_TARGET[0]:g}, {POWER_TARGET[1]:g})", target)
    if not REPLICATES[0] <= replicates <= REPLICATES[1]:
        raise InputError("--replicates", f"an integer in [{REPLICATES[0]}, {REPLICATES[1]}]", replicates)
    run_id, reg = resolve_run(run)
    row = reg.run(run_id)
    if not str(row["status"]).startswith("complete"):
        raise InputError(RUN_ARG, "a complete run", row["status"], hint=f"`nadsim trial resume {run_id}` first")
    spec = effective_spec(row["trial_text"], row["overrides"])
    if grid is not None and (not grid or min(grid) < 3 or max(grid) > 100_000):
        raise InputError("--grid", "subjects per arm, each in [3, 100000]", grid)
    ns = sorted(set(grid)) if grid else list(spec.power.n_grid)
    out = Path(row["out_dir"])
    model = trial_model(spec.model)
    outputs, _ = endpoint_outputs(spec, model)
    long = load_chunks(run_id, out, reg)
    po = PotentialOutcomes.from_long(long[long["draw"] < 0], tuple(a.name for a in spec.arms), outputs,
                                     spec.visit_times())
    e = _measurement(spec, next(x for x in spec.endpoints if x.name == spec.primary().name))
    if e.binary:
        raise InputError("primary endpoint", "a continuous endpoint for `trial power`", e.kind)
    arms: dict[str, Any] = {}
    for k, a in enumerate(spec.arms):
        if a.name == spec.control:
            continue
        pool = po.pool(e.output, spec.visit_index(e), spec.control, a.name)
        te = true_effect(pool, e, level=spec.analysis.level)
        curve = power_curve(pool, e, ns, replicates=replicates, alpha=spec.analysis.alpha, seed=spec.seed, key=(k,))
        nt = n_for_power(curve, target, delta=te["estimate"], delta_ci=te["ci"], alpha=spec.analysis.alpha)
        arms[a.name] = {"endpoint": e.name, "control": spec.control, "true_effect": te, "curve": curve,
                        "n_for_target": nt}
    result = {"run_id": run_id, "model": model.name, "target": target, "replicates": replicates, "arms": arms}
    atomic_write_text(out / "power.json", json.dumps(json_safe(result), indent=1, allow_nan=False))
    return result


def list_runs(registry: Registry | None = None) -> list[dict[str, Any]]:
    """The registry's runs; a run that no live process holds shows ``interrupted``."""
    rows = []
    for r in (registry or Registry()).runs():
        row = dict(r)
        if row["status"] in ("running", "incomplete") and lock_holder(Path(row["out_dir"])) is None:
            row["status"] = "interrupted"
        rows.append(row)
    return rows
