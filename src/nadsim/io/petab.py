"""A PEtab (v1) calibration problem for nadsim's model and the published human data.

Layout of the problem directory::

    problem.yaml                 PEtab entry point (format version 1)
    model.xml                    SBML L3V2 (see :mod:`nadsim.io.sbml`) + every experiment's doses
    conditions.tsv               one condition per experiment, plus ``preequilibration``
    measurements.tsv             targets with role "fit" that are point measurements
    observables.tsv              outputs, folds over baseline, areas under the curve
    parameters.tsv               free parameters: bounds, log10 scale, priors from the table
    validation_measurements.tsv  targets with role "validate" (not referenced by problem.yaml)
    skipped_targets.tsv          targets PEtab v1 cannot express as a point, with the reason

How the experiments live in one SBML model: the model carries a constant parameter
``experiment_index``; each experiment's doses are events triggered by
``time >= t_dose && experiment_index == k``, and its condition sets ``experiment_index = k``.
Every measurement is pre-equilibrated in the condition ``preequilibration`` (no doses), so
each simulation starts from the undosed steady state of the parameters being tried, as
nadsim's own simulations do.

Targets come from :mod:`nadsim.calibration` (``targets.toml``), which ties each number to
its row of ``shared/data/human_pk.csv``. Statistics that are values at a time (``value_at``)
map to the output itself; folds over baseline (``fold_at``) to ``output / ref_output``, where
``ref_output`` is a rate-ruled parameter that tracks the output during pre-equilibration and
is frozen afterwards; areas under the curve from 0 (``auc``) to a rate-ruled integral that runs
only after pre-equilibration. Peaks, times of peak, window means, rise times and washout
half-lives are not point measurements: they are listed in ``skipped_targets.tsv``.

Noise: log-normal (``observableTransformation = log``), standard deviation on the log scale
``0.25 / sqrt(weight)``, where the target's weight encodes its source's confidence
(high 1.0 ... low 0.1).

Priors: every estimated parameter gets a log-normal prior centred on its table value with
log-SD ``ln(upper / lower) / 4`` (its bounds are about +/- 2 SD), or a normal prior on the
linear scale when its lower bound is not positive.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

from nadsim._errors import CalibrationError, InputError
from nadsim._optional import require
from nadsim.calibration import FIT_PARAMETERS, load_targets
from nadsim.dosing import Regimen
from nadsim.io.sbml import (
    _formula_math,
    _libsbml,
    atomic_write_text,
    baseline_state,
    dose_schedule,
    export_sbml,
    unit_id,
)
from nadsim.library import get_model
from nadsim.model import Model
from nadsim.simulate import compile_model

__all__ = ["PetabTarget", "export_petab", "lint_petab"]

NOISE_LOG_SD = 0.25
PREEQ = "preequilibration"


class PetabTarget:
    """One measurement row: experiment, output, statistic, time, value, weight, provenance."""

    def __init__(self, id: str, experiment: str, output: str, statistic: str, observed: float, time_h: float,
                 weight: float, role: str, source: str, row: str, unit: str):
        self.id, self.experiment, self.output, self.statistic = id, experiment, output, statistic
        self.observed, self.time_h, self.weight, self.role = observed, time_h, weight, role
        self.source, self.row, self.unit = source, row, unit


def _load(model: Model) -> tuple[dict[str, Regimen], list[PetabTarget], list[tuple[str, str]]]:
    """Experiments (regimens), point targets and skipped targets (id, reason)."""
    experiments, targets = load_targets()
    regimens = {k: e.regimen for k, e in experiments.items()}
    out: list[PetabTarget] = []
    skipped: list[tuple[str, str]] = []
    for t in targets:
        if t.output not in {a.name for a in model.rules} | set(model.state_names):
            skipped.append((t.id, f"output {t.output} is not in model {model.name}"))
            continue
        if t.statistic == "value_at":
            out.append(PetabTarget(t.id, t.experiment, t.output, "value", t.observed, float(t.at_h or 0.0),
                                   t.weight, t.role, t.source, t.row, t.unit))
        elif t.statistic == "fold_at":
            out.append(PetabTarget(t.id, t.experiment, t.output, "fold", t.observed, float(t.at_h or 0.0),
                                   t.weight, t.role, t.source, t.row, t.unit))
        elif t.statistic == "auc" and (t.window_h is None or t.window_h[0] == 0.0):
            end = t.window_h[1] if t.window_h else experiments[t.experiment].until_h
            out.append(PetabTarget(t.id, t.experiment, t.output, "auc", t.observed, float(end),
                                   t.weight, t.role, t.source, t.row, t.unit))
        else:
            skipped.append((t.id, f"statistic '{t.statistic}' is not a value at one time point (PEtab v1)"))
    return regimens, out, skipped


def _sid(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_]", "_", text)
    return s if s[:1].isalpha() else f"x_{s}"


def _petab_model(model: Model, regimens: dict[str, Regimen], index: dict[str, int],
                 refs: Sequence[str], aucs: Sequence[str]) -> str:
    """The SBML model with every experiment's doses as gated events, baseline references, AUCs."""
    libsbml = _libsbml()
    doc = libsbml.readSBMLFromString(export_sbml(model))
    sm = doc.getModel()
    baseline_outputs = _baseline_outputs(model)

    def param(pid: str, value: float, unit: str, constant: bool = True) -> None:
        p = sm.createParameter()
        p.setId(pid)
        p.setValue(value)
        p.setUnits(unit)
        p.setConstant(constant)

    param("experiment_index", 0.0, "dimensionless")
    param("preequilibration_on", 0.0, "dimensionless")
    param("k_ref_tracking", 10.0, unit_id("1/h"))
    if sm.getUnitDefinition(unit_id("1/h")) is None:
        ud = sm.createUnitDefinition()
        ud.setId(unit_id("1/h"))
        u = ud.createUnit()
        u.setKind(libsbml.UNIT_KIND_SECOND)
        u.setExponent(-1)
        u.setScale(0)
        u.setMultiplier(3600.0)
    for out in refs:
        unit = sm.getParameter(out).getUnits()
        value = baseline_outputs[out]
        param(f"ref_{out}", value, unit, constant=False)
        rr = sm.createRateRule()
        rr.setVariable(f"ref_{out}")
        rr.setMath(_formula_math(f"preequilibration_on * k_ref_tracking * ({out} - ref_{out})", out))
    for out in aucs:
        unit = sm.getParameter(out).getUnits()
        auc_unit = f"{unit}_h"
        if sm.getUnitDefinition(auc_unit) is None:
            ud = sm.getUnitDefinition(unit).clone()
            ud.setId(auc_unit)
            u = ud.createUnit()
            u.setKind(libsbml.UNIT_KIND_SECOND)
            u.setExponent(1)
            u.setScale(0)
            u.setMultiplier(3600.0)
            sm.addUnitDefinition(ud)
        param(f"auc_{out}", 0.0, auc_unit, constant=False)
        rr = sm.createRateRule()
        rr.setVariable(f"auc_{out}")
        rr.setMath(_formula_math(f"(1 dimensionless - preequilibration_on) * {out}", out))
    for exp, k in index.items():
        for j, (t, boluses, rates) in enumerate(dose_schedule(model, regimens[exp])):
            ev = sm.createEvent()
            ev.setId(_sid(f"dose_{exp}_{j + 1}"))
            ev.setUseValuesFromTriggerTime(True)
            trig = ev.createTrigger()
            trig.setPersistent(True)
            trig.setInitialValue(False)
            trig.setMath(_formula_math(
                f"(time >= {t!r} {unit_id('h')}) && (experiment_index == {float(k)!r} dimensionless)", exp))
            for sp, amount in sorted(boluses.items()):
                comp = model.compartment_of[sp].name
                ea = ev.createEventAssignment()
                ea.setVariable(sp)
                ea.setMath(_formula_math(f"{sp} + {amount!r} {unit_id('umol')} / {comp}", exp))
            for par, rate in sorted(rates.items()):
                sm.getParameter(par).setConstant(False)
                ea = ev.createEventAssignment()
                ea.setVariable(par)
                ea.setMath(_formula_math(f"{float(rate)!r} {unit_id('umol/h')}", exp))
    return libsbml.writeSBMLToString(doc)


def _baseline_outputs(model: Model) -> dict[str, float]:
    """Every assignment-rule output at the undosed baseline (the export's initial state)."""
    p, y0 = baseline_state(model)
    values = compile_model(model).rules(0.0, y0, p)
    return {a.name: float(v) for a, v in zip(model.rules, values, strict=False)}


def _priors(lo: float, hi: float, nominal: float) -> tuple[str, str, str]:
    """(parameterScale, priorType, priorParameters) from bounds and table value."""
    if lo > 0 and hi > lo and nominal > 0:
        sd = math.log(hi / lo) / 4.0
        return "log10", "logNormal", f"{math.log(nominal):.12g};{sd:.6g}"
    sd = (hi - lo) / 4.0 if hi > lo else max(abs(nominal), 1.0)
    return "lin", "normal", f"{nominal:.12g};{sd:.6g}"


def export_petab(out: Path | str, model: Model | None = None, *, estimate: Sequence[str] | None = None) -> Path:
    """Write a PEtab v1 problem into directory ``out`` (created if missing); returns problem.yaml.

    ``estimate`` names the parameters to fit (default: :data:`nadsim.calibration.FIT_PARAMETERS`).
    """
    import pandas as pd

    model = model or get_model()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError("out", "a directory (or a path to create one)", str(out))
    out.mkdir(parents=True, exist_ok=True)
    regimens, targets, skipped = _load(model)
    fit = [t for t in targets if t.role == "fit"]
    if not fit:
        raise CalibrationError("targets", "at least one point measurement to fit", 0)
    experiments = sorted({t.experiment for t in targets})
    index = {e: i + 1 for i, e in enumerate(experiments)}
    refs = sorted({t.output for t in targets if t.statistic == "fold"})
    aucs = sorted({t.output for t in targets if t.statistic == "auc"})
    sbml_text = _petab_model(model, regimens, index, refs, aucs)

    # observables
    obs_rows, obs_id = [], {}
    for t in targets:
        key = (t.statistic, t.output)
        if key in obs_id:
            continue
        oid = {"value": f"obs_{t.output}", "fold": f"fold_{t.output}", "auc": f"auc_obs_{t.output}"}[t.statistic]
        formula = {"value": t.output, "fold": f"{t.output} / ref_{t.output}", "auc": f"auc_{t.output}"}[t.statistic]
        name = {"value": f"{t.output} ({model.unit_of(t.output)})", "fold": f"{t.output} / undosed baseline",
                "auc": f"area under {t.output} from dose start ({model.unit_of(t.output)}*h)"}[t.statistic]
        obs_id[key] = oid
        obs_rows.append({"observableId": oid, "observableName": name, "observableFormula": formula,
                         "observableTransformation": "log", "noiseFormula": f"noiseParameter1_{oid}",
                         "noiseDistribution": "normal"})

    def meas(ts: list[PetabTarget]) -> pd.DataFrame:
        return pd.DataFrame([{
            "observableId": obs_id[(t.statistic, t.output)], "preequilibrationConditionId": PREEQ,
            "simulationConditionId": _sid(t.experiment), "measurement": t.observed, "time": t.time_h,
            "noiseParameters": round(NOISE_LOG_SD / math.sqrt(t.weight), 6), "datasetId": _sid(t.id),
        } for t in ts])

    conditions = pd.DataFrame(
        [{"conditionId": PREEQ, "conditionName": "undosed baseline (pre-equilibration)",
          "experiment_index": 0.0, "preequilibration_on": 1.0}]
        + [{"conditionId": _sid(e), "conditionName": regimens[e].describe(), "experiment_index": float(k),
            "preequilibration_on": 0.0} for e, k in index.items()])

    if estimate is None:
        estimate = FIT_PARAMETERS
    to_fit = set(estimate)
    inputs = set(model.infusion_inputs.values())
    prow = []
    for name, par in model.parameters.items():
        if par.expr is not None or name in inputs:
            continue  # derived (initial assignments) and dosing inputs are not free parameters
        lo, hi = par.bounds
        est = name in to_fit and lo < hi
        scale, prior, prior_par = _priors(lo, hi, par.value) if est else ("lin", "", "")
        if not est:
            lo, hi = min(lo, par.value), max(hi, par.value)
        pv = par.provenance
        prow.append({
            "parameterId": name, "parameterName": f"{name} [{par.unit}] grade {pv.grade} ({pv.kind}) {pv.source}".strip(),
            "parameterScale": scale, "lowerBound": lo, "upperBound": hi, "nominalValue": par.value,
            "estimate": int(est), "objectivePriorType": prior, "objectivePriorParameters": prior_par,
        })
    params = pd.DataFrame(prow)

    files = {
        "model.xml": sbml_text,
        "conditions.tsv": conditions.to_csv(sep="\t", index=False),
        "measurements.tsv": meas(fit).to_csv(sep="\t", index=False),
        "observables.tsv": pd.DataFrame(obs_rows).to_csv(sep="\t", index=False),
        "parameters.tsv": params.to_csv(sep="\t", index=False),
        "skipped_targets.tsv": pd.DataFrame(skipped, columns=["target", "reason"]).to_csv(sep="\t", index=False),
        "problem.yaml": (
            "format_version: 1\n"
            "parameter_file: parameters.tsv\n"
            "problems:\n"
            "- condition_files: [conditions.tsv]\n"
            "  measurement_files: [measurements.tsv]\n"
            "  observable_files: [observables.tsv]\n"
            "  sbml_files: [model.xml]\n"
        ),
    }
    validate = [t for t in targets if t.role == "validate"]
    if validate:
        files["validation_measurements.tsv"] = meas(validate).to_csv(sep="\t", index=False)
    prov = pd.DataFrame([{"datasetId": _sid(t.id), "target": t.id, "role": t.role, "statistic": t.statistic,
                          "unit": t.unit, "weight": t.weight, "source": t.source, "data_row": t.row} for t in targets])
    files["measurement_sources.tsv"] = prov.to_csv(sep="\t", index=False)
    for fname, text in files.items():
        atomic_write_text(out / fname, text)
    return out / "problem.yaml"


def lint_petab(yaml_path: Path | str) -> bool:
    """Run PEtab's own linter on a problem; True when it reports no errors."""
    petab = require("petab.v1", field="petab")

    problem = petab.Problem.from_yaml(str(yaml_path))
    return not petab.lint_problem(problem)
