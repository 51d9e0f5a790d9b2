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

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

import numpy as np

from nadsim.model import Model, parse_expr

__all__ = ["CompiledModel", "compile_model"]


def _names(model: Model) -> dict[str, str]:
    ren = {n: f"q_{n}" for n in model.parameters}
    ren.update({c.name: f"q_{c.volume}" for c in model.compartments})
    ren.update({s: f"s_{s}" for s in model.state_names})
    ren.update({r.name: f"a_{r.name}" for r in model.rules})
    ren["t"] = "t"
    return ren


def _source(model: Model) -> str:
    ren = _names(model)
    pidx = {n: i for i, n in enumerate(model.parameters)}
    sidx = {n: i for i, n in enumerate(model.state_names)}
    L: list[str] = []
    emit = L.append

    # derive
    emit("def derive(p, xp):")
    emit("    cols = [p[..., i] for i in range(p.shape[-1])]")
    for n in model.derived_order():
        e = parse_expr(model.parameters[n].expr or "", n)
        for dep in sorted(e.symbols):
            emit(f"    q_{dep} = cols[{pidx[dep]}]")
        emit(f"    cols[{pidx[n]}] = {e.to_python(ren)}")
    emit("    return xp.stack(xp.broadcast_arrays(*cols), axis=-1)")
    emit("")

    def unpack(indent: str = "    ") -> None:
        for n, i in sidx.items():
            emit(f"{indent}s_{n} = y[..., {i}]")
        for n, i in pidx.items():
            emit(f"{indent}q_{n} = p[..., {i}]")
        for a in model.rules:
            emit(f"{indent}a_{a.name} = {parse_expr(a.expr, a.name).to_python(ren)}")

    emit("def rhs(t, y, p, xp):")
    unpack()
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
    emit(f"    return xp.stack(xp.broadcast_arrays({', '.join(f'd{i}' for i in range(len(out)))}, y[..., 0]), axis=-1)[..., :{len(out)}]")
    emit("")

    emit("def rules(t, y, p, xp):")
    unpack()
    names = ", ".join(f"a_{a.name}" for a in model.rules) or "y[..., 0] * 0.0"
    emit(f"    return xp.stack(xp.broadcast_arrays({names}, y[..., 0]), axis=-1)[..., :{max(len(model.rules), 1)}]")
    emit("")

    emit("def fluxes(t, y, p, xp):")
    unpack()
    for r in model.reactions:
        emit(f"    v_{r.name} = {parse_expr(r.rate, r.name).to_python(ren)}")
    emit(f"    return xp.stack(xp.broadcast_arrays({', '.join(f'v_{r.name}' for r in model.reactions)}, y[..., 0]), axis=-1)[..., :{len(model.reactions)}]")
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

    def rules(self, t: Any, y: Any, p: Any, xp: Any = np) -> Any:
        return self._fns["rules"](t, y, p, xp)

    def fluxes(self, t: Any, y: Any, p: Any, xp: Any = np) -> Any:
        return self._fns["fluxes"](t, y, p, xp)

    def initial_guess(self, p: Any, xp: Any = np) -> Any:
        return self._fns["initial_guess"](p, xp)


@lru_cache(maxsize=32)
def compile_model(model: Model) -> CompiledModel:
    """Generate and compile the model's functions (cached per model value)."""
    src = _source(model)
    namespace: dict[str, Any] = {}
    exec(compile(src, f"<nadsim:{model.name}:{model.hash()}>", "exec"), namespace)  # noqa: S102 - source generated from whitelisted ASTs
    return CompiledModel(
        model=model,
        source=src,
        state_names=model.state_names,
        parameter_names=model.parameter_names,
        rule_names=tuple(r.name for r in model.rules),
        reaction_names=tuple(r.name for r in model.reactions),
        _fns={k: namespace[k] for k in ("derive", "rhs", "rules", "fluxes", "initial_guess")},
    )
