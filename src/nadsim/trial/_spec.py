"""Trial files (TOML) validated with pydantic; every error names the offending field.

A trial file declares the arms (placebo, NMN drip regimens, oral comparators), the number of
subjects per arm, the duration and visit schedule, the endpoints with their measurement
error, subgroups, the analysis and the power search. See
``examples/trials/nmn-drip-depression.toml``.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from nadsim._errors import InputError
from nadsim._units import parse_quantity
from nadsim.dosing import Regimen, parse_regimen
from nadsim.population import CovariateModel

__all__ = ["CHUNK_SIZE", "N_PER_ARM", "POWER_TARGET", "REPLICATES", "WORKERS", "Arm", "Assurance", "Endpoint",
           "Subgroup", "TrialSpec", "load_trial", "parse_trial", "read_trial_text"]

#: allowed ranges (closed), shared by the trial file's validation and the CLI's help text
N_PER_ARM = (2, 1_000_000)
REPLICATES = (20, 200_000)
CHUNK_SIZE = (1, 100_000)
WORKERS = (1, 256)
#: target power or assurance: an open interval
POWER_TARGET = (0.0, 1.0)

_STRICT = ConfigDict(extra="forbid", frozen=True)
_WHERE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|<|>|==|!=)\s*([-+0-9.eE]+)\s*$")


def _hours(text: Any, field: str) -> float:
    if isinstance(text, int | float):
        raise InputError(field, "a duration with a unit, e.g. '8 weeks' or '56 d'", text)
    return float(parse_quantity(str(text), field, "[time]", unit_hint="8 weeks"))


class Arm(BaseModel):
    """One arm: ``placebo = true`` or a regimen (compound, route, dose, infusion, every, doses)."""

    model_config = _STRICT
    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")
    placebo: bool = False
    compound: str | None = None
    route: str | None = None
    dose: str | None = None
    infusion: str | None = None
    every: str | None = None
    doses: int = Field(1, ge=1, le=10_000)
    description: str = ""

    @model_validator(mode="after")
    def _regimen_or_placebo(self) -> Arm:
        missing = [k for k in ("compound", "route", "dose") if getattr(self, k) is None]
        if not self.placebo and missing:
            raise InputError(missing[0], "given: an active arm needs `compound`, `route` and `dose` "
                                         "(or set `placebo = true`)")
        if self.placebo and self.compound is not None:
            raise InputError("compound", "absent: a placebo arm takes no `compound`", self.compound)
        return self

    def regimen(self) -> Regimen:
        if self.placebo:
            return Regimen.none()
        return parse_regimen(compound=self.compound or "", route=self.route or "", dose=self.dose or "",
                             infusion=self.infusion, every=self.every, doses=self.doses)


class Endpoint(BaseModel):
    """An endpoint computed from one model output at baseline (t = 0) and one visit.

    ``kind``: ``change`` (visit minus baseline, continuous), ``percent_change``, ``value``,
    ``response`` (drop of at least ``threshold`` x baseline; default 0.5) or ``remission``
    (value at the visit <= ``threshold``; default 7, the HAM-D-17 remission cut-off).
    Measurement error: additive ``noise_sd`` (output unit) and/or proportional ``noise_cv``,
    drawn independently at each visit; ``round`` rounds observed values (rating scales);
    ``clip`` bounds them (e.g. [0, 52] for HAM-D-17). ``subject_sd`` is the SD of each subject's
    course that the model does not explain (a random subject effect added to every post-baseline
    visit, drawn once per subject), so that the spread of changes matches trial data.
    Measurement settings are shared by all endpoints of one output: the first endpoint naming
    the output defines them. ``better`` (``lower``/``higher``) says which direction of the
    treatment effect is a success (for assurance and the probability of success).
    """

    model_config = _STRICT
    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
    output: str
    kind: Literal["change", "percent_change", "value", "response", "remission"] = "change"
    visit: str = "end"
    threshold: float | None = None
    noise_sd: float = Field(0.0, ge=0.0)
    noise_cv: float = Field(0.0, ge=0.0, le=2.0)
    subject_sd: float = Field(0.0, ge=0.0)
    round: bool = False
    clip: tuple[float, float] | None = None
    primary: bool = False
    better: Literal["lower", "higher"] | None = None
    noise_source: str = "assumed"
    description: str = ""

    @property
    def favourable(self) -> int:
        """+1 when higher is better, -1 when lower is, 0 when unstated (then success is any p < alpha).

        Unstated: response and remission are better when higher; other kinds have no direction."""
        if self.better is not None:
            return 1 if self.better == "higher" else -1
        return 1 if self.binary else 0

    @property
    def binary(self) -> bool:
        return self.kind in ("response", "remission")

    @property
    def cut(self) -> float:
        if self.threshold is not None:
            return float(self.threshold)
        return 0.5 if self.kind == "response" else 7.0


class Subgroup(BaseModel):
    """Subjects whose covariate satisfies ``where`` (e.g. ``"CRP > 3"``, CRP in mg/L)."""

    model_config = _STRICT
    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
    where: str
    description: str = ""

    @field_validator("where")
    @classmethod
    def _parse(cls, v: str) -> str:
        if not _WHERE.match(v):
            raise ValueError("a condition 'COVARIATE OP NUMBER' with OP one of < <= > >= == !=, e.g. 'CRP > 3'")
        return v

    def mask(self, covariates: Any) -> np.ndarray:
        m = _WHERE.match(self.where)
        assert m is not None
        name, op, val = m.group(1), m.group(2), float(m.group(3))
        if name not in covariates:
            raise InputError(f"subgroups.{self.name}.where", "a condition on a covariate", name)
        x = covariates[name].to_numpy(dtype=float)
        return {"<": x < val, "<=": x <= val, ">": x > val, ">=": x >= val, "==": x == val, "!=": x != val}[op]


class Population(BaseModel):
    """``n_per_arm`` subjects per arm in the simulated trial; ``pool`` virtual patients in the
    super-population, each simulated under every arm (default: twice the trial's subjects), from
    which the replicate trials draw different patients per arm."""

    model_config = _STRICT
    n_per_arm: int = Field(100, ge=N_PER_ARM[0], le=N_PER_ARM[1])
    pool: int | None = Field(None, ge=4, le=1_000_000)
    covariates: dict[str, dict[str, Any]] = Field(default_factory=dict)
    variability: dict[str, float] | None = None
    uncertainty_draws: int = Field(1, ge=1, le=10_000)
    uncertainty: dict[str, float] = Field(default_factory=dict)


class Analysis(BaseModel):
    model_config = _STRICT
    method: Literal["ancova"] = "ancova"
    control: str | None = None
    alpha: float = Field(0.05, gt=0.0, lt=0.5)
    level: float = Field(0.95, gt=0.5, lt=1.0)


class Assurance(BaseModel):
    """Parameter uncertainty for assurance: ``draws`` parameter sets from
    :func:`nadsim.calibration.parameter_draws` (``source``), each with ``patients_per_draw``
    virtual patients simulated under every arm; ``draws = 0`` turns assurance off."""

    model_config = _STRICT
    draws: int = Field(10, ge=0, le=10_000)
    patients_per_draw: int = Field(10, ge=4, le=100_000)
    source: str = "prior"


class Power(BaseModel):
    model_config = _STRICT
    n_grid: list[int] = Field(default_factory=lambda: [20, 40, 60, 80, 100, 150, 200, 300])
    replicates: int = Field(500, ge=REPLICATES[0], le=REPLICATES[1])
    target: float = Field(0.8, gt=POWER_TARGET[0], lt=POWER_TARGET[1])

    @field_validator("n_grid")
    @classmethod
    def _grid(cls, v: list[int]) -> list[int]:
        if not v or any(n < 3 for n in v) or any(n > 100_000 for n in v):
            raise ValueError("a non-empty list of subjects per arm, each in [3, 100000]")
        return sorted(set(v))


class Solver(BaseModel):
    model_config = _STRICT
    rtol: float = Field(1e-6, gt=0.0, lt=1e-2)
    atol: float = Field(1e-8, gt=0.0, lt=1e-2)
    backend: Literal["native", "scipy", "jax", "numpy"] = "native"  # numpy: the former name of scipy
    device: Literal["cpu", "gpu"] = "cpu"
    chunk_size: int = Field(10, ge=CHUNK_SIZE[0], le=CHUNK_SIZE[1])


class TrialSpec(BaseModel):
    """A whole in-silico trial."""

    model_config = _STRICT
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
    description: str = ""
    model: str = "default"
    seed: int = Field(0, ge=0, le=2**63 - 1)
    duration: str
    visits: str | list[str] = "weekly"
    population: Population = Field(default_factory=Population)
    arms: list[Arm] = Field(min_length=2)
    endpoints: list[Endpoint] = Field(min_length=1)
    subgroups: list[Subgroup] = Field(default_factory=list)
    analysis: Analysis = Field(default_factory=Analysis)
    power: Power = Field(default_factory=Power)
    assurance: Assurance = Field(default_factory=Assurance)
    solver: Solver = Field(default_factory=Solver)

    @model_validator(mode="after")
    def _consistent(self) -> TrialSpec:
        # InputError names the exact field; parse_trial passes it on as it is
        names = [a.name for a in self.arms]
        _unique("arms", names)
        if self.analysis.control is not None and self.analysis.control not in names:
            raise InputError("analysis.control", f"the name of an arm: one of {', '.join(names)}", self.analysis.control)
        _unique("endpoints", [e.name for e in self.endpoints])
        primaries = [i for i, e in enumerate(self.endpoints) if e.primary]
        if len(primaries) > 1:
            raise InputError(f"endpoints.{primaries[1]}.primary",
                             f"false: at most one endpoint may be primary (endpoints.{primaries[0]} is)", True)
        n_trial = self.population.n_per_arm * len(self.arms)
        if self.population.pool is not None and self.population.pool < n_trial:
            # the trial's own subjects are the pool's first n_per_arm x arms patients (allocation)
            raise InputError("population.pool", f"at least n_per_arm x arms = {self.population.n_per_arm} x "
                                                f"{len(self.arms)} = {n_trial} (the trial's subjects are drawn from "
                                                f"the pool; leave it out for 2 x {n_trial})", self.population.pool)
        return self

    # ---------------------------------------------------------------- derived views
    @property
    def control(self) -> str:
        return self.analysis.control or self.arms[0].name

    @property
    def pool_size(self) -> int:
        """Virtual patients of the super-population: ``pool``, else twice the trial's own subjects
        (a ``pool`` below them is refused by the validation)."""
        return self.population.pool or 2 * self.population.n_per_arm * len(self.arms)

    def memory_estimate_bytes(self) -> int:
        """Peak memory of a run, estimated before it starts: the long table of every twin's
        outputs (subjects x arms x visits x endpoints, ~6 columns of 8 bytes, held twice while it
        is pivoted) plus the replicate trials of the largest n (replicates x 2n values per arm
        pair, ~4 temporaries). An estimate to refuse impossible specs, not a measurement."""
        twins = self.pool_size + self.assurance.draws * self.assurance.patients_per_draw
        rows = twins * len(self.arms) * self.visit_times().size * len(self.endpoints)
        replicates = self.power.replicates * 2 * max(self.power.n_grid) * (len(self.arms) - 1)
        return int(rows * 6 * 8 * 2 + replicates * 8 * 4 * (1 + self.assurance.draws))

    @property
    def duration_h(self) -> float:
        return _hours(self.duration, "duration")

    def visit_times(self) -> np.ndarray:
        """Visit times in h, always starting with the baseline visit at 0 h."""
        end = self.duration_h
        if isinstance(self.visits, str):
            step = {"weekly": 168.0, "daily": 24.0, "biweekly": 336.0, "monthly": 672.0}.get(self.visits)
            if step is None:
                raise InputError("visits", "'weekly', 'daily', 'biweekly', 'monthly' or a list of times", self.visits)
            t = np.arange(0.0, end + 1e-9, step)
        else:
            t = np.array([_hours(v, f"visits[{i}]") for i, v in enumerate(self.visits)])
        t = np.unique(np.concatenate([[0.0], t, [end]]))
        if np.any(t < 0) or np.any(t > end + 1e-9):
            raise InputError("visits", f"times between 0 and the duration ({end:g} h)", self.visits)
        return t

    def visit_index(self, e: Endpoint) -> int:
        t = self.visit_times()
        if e.visit == "end":
            return len(t) - 1
        h = _hours(e.visit, f"endpoints.{e.name}.visit")
        hit = np.flatnonzero(np.isclose(t, h))
        if hit.size == 0:
            raise InputError(f"endpoints.{e.name}.visit", f"one of the visit times {t.tolist()} h", e.visit)
        return int(hit[0])

    def check(self) -> TrialSpec:
        """Checks that need units: regimens parse and fit in the duration."""
        end = self.duration_h
        if end <= 0:
            raise InputError("duration", "a positive duration", self.duration)
        for a in self.arms:
            try:
                r = a.regimen()
            except InputError as exc:
                raise InputError(f"arms.{a.name}.{exc.field}", exc.expected, exc.got, exc.hint) from None
            if r.doses and r.last_time_h > end + 1e-9:
                raise InputError(f"arms.{a.name}", f"doses ending within the duration ({end:g} h)", f"{r.last_time_h:g} h")
        self.visit_times()
        for e in self.endpoints:
            self.visit_index(e)

        try:
            known = CovariateModel().override(self.population.covariates).names
        except InputError as exc:
            raise InputError(f"population.covariates.{exc.got}" if exc.field == "population.covariates" else exc.field,
                             exc.expected, exc.got) from None
        for sg in self.subgroups:
            m = _WHERE.match(sg.where)
            if m and m.group(1) not in known:
                raise InputError(f"subgroups.{sg.name}.where", f"a condition on a covariate: one of {', '.join(known)}",
                                 m.group(1))
        return self

    def primary(self) -> Endpoint:
        return next((e for e in self.endpoints if e.primary), self.endpoints[0])


def _unique(kind: str, names: list[str]) -> None:
    """Refuse the second of two equal names, naming its field (``arms.1.name``)."""
    seen: dict[str, int] = {}
    for i, n in enumerate(names):
        if n in seen:
            raise InputError(f"{kind}.{i}.name", f"a name no other entry of `{kind}` has ({kind}.{seen[n]}.name "
                                                 "is the same)", n)
        seen[n] = i


def _loc(err: Any) -> str:
    return ".".join(str(x) for x in err.get("loc", ()))


def _input_error(exc: ValidationError) -> InputError:
    """The first problem of ``exc`` as one line: its field, what is allowed, the offending value only."""
    errors = exc.errors()
    e, loc = errors[0], _loc(errors[0])
    more = f" ({len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    cause = (e.get("ctx") or {}).get("error")
    if isinstance(cause, InputError):  # raised by our validators with the exact field
        return InputError(f"{loc}.{cause.field}" if loc else cause.field, cause.expected + more, cause.got)
    msg = str(e.get("msg", "")).removeprefix("Value error, ").removeprefix("Input should be ")
    msg = {"Field required": "present (it is required)",
           "Extra inputs are not permitted": "a known field (no such field in a trial file)"}.get(msg, msg)
    return InputError(loc or "trial", msg + more, e.get("input") if e["type"] != "missing" else None)


def parse_trial(data: dict[str, Any]) -> TrialSpec:
    try:
        spec = TrialSpec.model_validate(data)
    except ValidationError as exc:
        raise _input_error(exc) from None
    return spec.check()


def read_trial_text(path: Path | str) -> tuple[str, str]:
    """A trial file's text (UTF-8) and its sha256, unparsed."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError("trial file", "a readable TOML file", f"{path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError("trial file", "a UTF-8 text (TOML) file",
                         f"{path}: byte 0x{raw[exc.start]:02x} at offset {exc.start} is not UTF-8") from None
    return text, hashlib.sha256(text.encode()).hexdigest()


def toml_data(text: str, path: Path | str = "trial file") -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError("trial file", "valid TOML", f"{path}: {exc}") from None


def load_trial(path: Path | str) -> tuple[TrialSpec, str, str]:
    """Read and validate a trial file; returns ``(spec, text, sha256 of text)``."""
    text, sha = read_trial_text(path)
    return parse_trial(toml_data(text, path)), text, sha
