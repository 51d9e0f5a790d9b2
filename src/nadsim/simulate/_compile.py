"""Compile a :class:`~nadsim.model.Model` into plain functions over an array namespace.

One source of truth: the model's expressions are turned into Python source **once** and
executed with ``xp`` bound to NumPy or ``jax.numpy``. Arrays may carry leading batch
dimensions: states are ``y[..., i]`` and parameters ``p[..., j]``.

Generated functions:

``derive(p, xp)``   fill in derived parameters (volumes from body weight, baseline-derived Vmax)
``rhs(t, y, p, xp)``  time derivatives of all states
``rules(t, y, p, xp)``  every assignment rule (model outputs), stacked on the last axis
``initial_guess(p, xp)``  species at their baseline parameters where given, else small
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from nadsim.model import Model, parse_expr
from nadsim.simulate._structure_cache import per_structure

__all__ = ["CompiledModel", "compile_model"]


def _names(model: Model) -> dict[str, str]:
    ren = {n: f"q_{n}" for n in model.parameters}
    ren.update({c.name: f"q_{c.volume}" for c in model.compartments})
    ren.update({s: f"s_{s}" for s in model.state_names})
    ren.update({r.name: f"a_{r.name}" for r in model.rules})
    ren["t"] = "t"
    return ren


def _needed_rules(model: Model) -> list:
    """Rules the derivatives depend on (directly or through other rules), in model order."""
    by_name = {a.name: a for a in model.rules}
    need: set[str] = set()
    frontier: set[str] = set()
    for r in model.reactions:
        frontier |= parse_expr(r.rate, r.name).symbols
    for st in model.states:
        frontier |= parse_expr(st.rhs, st.name).symbols
    while frontier:
        n = frontier.pop()
        if n in by_name and n not in need:
            need.add(n)
            frontier |= parse_expr(by_name[n].expr, n).symbols
    return [a for a in model.rules if a.name in need]


def _source(model: Model, scalar: bool = False) -> str:
    """Python source of the model functions.

    ``scalar=False``: array code over ``xp`` with leading batch dimensions (``y[..., i]``).
    ``scalar=True``: the same expressions over Python floats and :mod:`math` (``y[i]``), for
    the single-subject SciPy path where NumPy scalar overhead dominates.
    """
    ren = _names(model)
    ix = "[{}]" if scalar else "[..., {}]"
    pidx = {n: i for i, n in enumerate(model.parameters)}
    sidx = {n: i for i, n in enumerate(model.state_names)}
    L: list[str] = []
    emit = L.append

    # derive
    if scalar:
        emit("def derive(p, xp):")
        emit("    cols = list(p)")
    else:
        emit("def derive(p, xp):")
        emit("    cols = [p[..., i] for i in range(p.shape[-1])]")
    for n in model.derived_order():
        e = parse_expr(model.parameters[n].expr or "", n)
        for dep in sorted(e.symbols):
            emit(f"    q_{dep} = cols[{pidx[dep]}]")
        emit(f"    cols[{pidx[n]}] = {e.to_python(ren)}")
    emit("    return cols" if scalar else "    return xp.stack(xp.broadcast_arrays(*cols), axis=-1)")
    emit("")

    def unpack(rules: list, used: set[str] | None = None, indent: str = "    ") -> None:
        for n, i in sidx.items():
            if used is None or n in used:
                emit(f"{indent}s_{n} = y{ix.format(i)}")
        for n, i in pidx.items():
            if used is None or n in used:
                emit(f"{indent}q_{n} = p{ix.format(i)}")
        for a in rules:
            emit(f"{indent}a_{a.name} = {parse_expr(a.expr, a.name).to_python(ren)}")

    rhs_rules = _needed_rules(model)
    used: set[str] = {c.volume for c in model.compartments}
    for r in model.reactions:
        used |= parse_expr(r.rate, r.name).symbols
    for st in model.states:
        used |= parse_expr(st.rhs, st.name).symbols
    for a in rhs_rules:
        used |= parse_expr(a.expr, a.name).symbols
    comp_vol = {c.name: c.volume for c in model.compartments}
    used = {comp_vol.get(u, u) for u in used}

    emit("def rhs(t, y, p, xp):")
    unpack(rhs_rules, used)
    for r in model.reactions:
        emit(f"    v_{r.name} = {parse_expr(r.rate, r.name).to_python(ren)}")
    vol = {s.name: f"q_{model.compartment_of[s.name].volume}" for s in model.species}
    terms: dict[str, list[str]] = {s: [] for s in model.state_names}
    for r in model.reactions:
        for sp, coef in r.stoichiometry:
            c = float(coef)
            terms[sp].append(f"{'+' if c > 0 else '-'} {abs(c)!r} * v_{r.name}")
    out = []
    for s in model.species:
        body = " ".join(terms[s.name]) or "0.0"
        out.append(f"({body}) / {vol[s.name]}")
    for st in model.states:
        out.append(parse_expr(st.rhs, st.name).to_python(ren))
    for i, o in enumerate(out):
        emit(f"    d{i} = {o}")
    if scalar:
        emit(f"    return [{', '.join(f'd{i}' for i in range(len(out)))}]")
    else:
        emit(f"    return xp.stack(xp.broadcast_arrays({', '.join(f'd{i}' for i in range(len(out)))}, y[..., 0]), axis=-1)[..., :{len(out)}]")
    emit("")
    if scalar:
        return "\n".join(L)

    emit("def rules(t, y, p, xp):")
    unpack(list(model.rules))
    names = ", ".join(f"a_{a.name}" for a in model.rules) or "y[..., 0] * 0.0"
    emit(f"    return xp.stack(xp.broadcast_arrays({names}, y[..., 0]), axis=-1)[..., :{max(len(model.rules), 1)}]")
    emit("")

    emit("def fluxes(t, y, p, xp):")
    unpack(list(model.rules))
    for r in model.reactions:
        emit(f"    v_{r.name} = {parse_expr(r.rate, r.name).to_python(ren)}")
    if model.reactions:
        emit(f"    return xp.stack(xp.broadcast_arrays({', '.join(f'v_{r.name}' for r in model.reactions)}, y[..., 0]), axis=-1)[..., :{len(model.reactions)}]")
    else:  # a model of rate rules only has no fluxes
        emit("    return y[..., :0]")
    emit("")

    emit("def initial_guess(p, xp):")
    for n, i in pidx.items():
        emit(f"    q_{n} = p[..., {i}]")
    vals = []
    for s in model.species:
        vals.append(f"q_{s.initial}" if s.initial else "0.0 * q_BW_placeholder")
    for st in model.states:
        vals.append(parse_expr(st.initial, st.name).to_python(ren))
    first = next(iter(pidx))
    body = ", ".join(v.replace("q_BW_placeholder", f"q_{first}") for v in vals)
    emit(f"    return xp.stack(xp.broadcast_arrays({body}), axis=-1)")
    return "\n".join(L)


class _ScalarXP:
    """``xp`` for the scalar path: Python floats and :mod:`math`."""

    exp = staticmethod(math.exp)
    log = staticmethod(math.log)
    sqrt = staticmethod(math.sqrt)
    sin = staticmethod(math.sin)
    cos = staticmethod(math.cos)
    tanh = staticmethod(math.tanh)
    abs = staticmethod(abs)
    minimum = staticmethod(min)
    maximum = staticmethod(max)


@dataclass(frozen=True)
class CompiledModel:
    """A model turned into functions; holds index maps and the base parameter vector."""

    model: Model
    source: str
    state_names: tuple[str, ...]
    parameter_names: tuple[str, ...]
    rule_names: tuple[str, ...]
    reaction_names: tuple[str, ...]
    _fns: dict[str, Callable[..., Any]] = field(repr=False, compare=False)

    @property
    def source_hash(self) -> str:
        """A hash of the generated source: equal for every parameter set of one structure."""
        return hashlib.sha256(self.source.encode()).hexdigest()[:16]

    @property
    def n_states(self) -> int:
        return len(self.state_names)

    def sidx(self, name: str) -> int:
        return self.state_names.index(name)

    def pidx(self, name: str) -> int:
        return self.parameter_names.index(name)

    def base_parameters(self) -> np.ndarray:
        """Free parameter values with derived ones filled in (canonical units)."""
        p = np.array([self.model.parameters[n].value for n in self.parameter_names], dtype=float)
        return self.derive(p)

    def derive(self, p: Any, xp: Any = np) -> Any:
        return self._fns["derive"](p, xp)

    def rhs(self, t: Any, y: Any, p: Any, xp: Any = np) -> Any:
        return self._fns["rhs"](t, y, p, xp)

    def rhs_scalar(self, p: np.ndarray) -> Callable[[float, np.ndarray], np.ndarray]:
        """A fast single-subject ``f(t, y)`` for SciPy, with parameters ``p`` bound."""
        fn = self._fns["rhs_scalar"]
        plist = [float(v) for v in p]
        xp = _ScalarXP

        def f(t: float, y: np.ndarray) -> np.ndarray:
            return np.array(fn(t, y.tolist(), plist, xp))

        return f

    def rules(self, t: Any, y: Any, p: Any, xp: Any = np) -> Any:
        return self._fns["rules"](t, y, p, xp)

    def fluxes(self, t: Any, y: Any, p: Any, xp: Any = np) -> Any:
        return self._fns["fluxes"](t, y, p, xp)

    def initial_guess(self, p: Any, xp: Any = np) -> Any:
        return self._fns["initial_guess"](p, xp)


@per_structure
def _functions(model: Model) -> tuple[str, dict[str, Callable[..., Any]]]:
    """The generated source and its compiled functions, shared by every model of one structure
    (parameter values are arguments of the functions, never part of the source)."""
    src = _source(model)
    namespace: dict[str, Any] = {}
    exec(compile(src, f"<nadsim:{model.name}:{model.structure_hash()}>", "exec"), namespace)
    scalar_ns: dict[str, Any] = {}
    exec(compile(_source(model, scalar=True), f"<nadsim:{model.name}:scalar>", "exec"), scalar_ns)
    namespace["rhs_scalar"] = scalar_ns["rhs"]
    return src, {k: namespace[k] for k in ("derive", "rhs", "rhs_scalar", "rules", "fluxes", "initial_guess")}


@lru_cache(maxsize=32)
def compile_model(model: Model) -> CompiledModel:
    """The model's functions with its index maps (cached per model value; the generated code
    per structure)."""
    src, fns = _functions(model)
    return CompiledModel(
        model=model,
        source=src,
        state_names=model.state_names,
        parameter_names=model.parameter_names,
        rule_names=tuple(r.name for r in model.rules),
        reaction_names=tuple(r.name for r in model.reactions),
        _fns=fns,
    )
