"""Model -> Numba source for the native solver (the model part of the compiled module).

Generated from the same parsed expressions as :mod:`nadsim.simulate._compile`; no model is
written by hand. The source depends on the model's *structure* only (parameters are read from
the array ``p`` by index), so every parameter set of a model shares one compiled module.

What is generated:

``hoist(p, h)``  every parameter-only subexpression of the right-hand side (``V_liver * Vmax``,
                 ``1 / V_plasma``, the reciprocal of every parameter-only divisor, rules that
                 use parameters alone), evaluated once per dose
                 segment, since infusion inputs are parameters that change between segments.
                 On the default model this takes ~100 subexpressions out of every evaluation.
``rhs(t, y, p, h, dy)``  the derivatives, straight-line scalar code.
``lu_factor(J, c, lu)`` / ``lu_solve(lu, b)``  the fixed-order sparse LU of ``I - c J``
                 (:func:`nadsim.simulate._sparsity.lu_code`).
"""

from __future__ import annotations

import ast

from nadsim.model import Model, parse_expr
from nadsim.model._expr import Expr
from nadsim.simulate._compile import _needed_rules
from nadsim.simulate._sparsity import Sparsity, lu_code, sparsity
from nadsim.simulate._structure_cache import per_structure

__all__ = ["model_source"]


def _is_leaf(node: ast.expr) -> bool:
    if isinstance(node, ast.Name | ast.Constant):
        return True
    return isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant)


def _symbols(node: ast.AST) -> set[str]:
    called = {n.func.id for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} - called - {"pi"}


class _Hoister:
    """Collects maximal parameter-only subtrees; :meth:`replace` hands them to ``Expr.to_python``.

    ``constant`` holds the names that are fixed within a segment: parameters, compartments and
    rules over those alone (``rules``, whose values are hoisted whole)."""

    def __init__(self, constant: set[str], rules: set[str], rename: dict[str, str]):
        self.constant = constant
        self.rules = rules
        self.rename = rename
        self.exprs: list[str] = []  # source of each hoisted value, over q_ and a_ locals
        self.slot: dict[str, int] = {}

    def take(self, src: str) -> str:
        """The local that holds hoisted ``src`` (deduplicated by source text)."""
        if src not in self.slot:
            self.slot[src] = len(self.exprs)
            self.exprs.append(src)
        return f"h_{self.slot[src]}"

    def replace(self, node: ast.expr) -> str | None:
        if not _symbols(node) <= self.constant:
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and _symbols(node.right) <= self.constant \
                    and not isinstance(node.right, ast.Constant):
                # x / (parameters): a multiplication by a hoisted reciprocal (a division costs
                # ~5x a multiplication; the result differs in the last bit at most)
                left = Expr(text="", tree=node.left).to_python(self.rename, self.replace)
                right = Expr(text="", tree=node.right).to_python(self.rename)
                return f"({left} * {self.take(f'(1.0 / {right})')})"
            return None
        if _is_leaf(node):  # plain names and numbers stay; parameter-only rules are hoisted
            return self.take(self.rename[node.id]) if isinstance(node, ast.Name) and node.id in self.rules else None
        return self.take(Expr(text="", tree=node).to_python(self.rename))


def _array_literal(values: tuple[int, ...] | list[int]) -> str:
    return f"np.array([{', '.join(str(v) for v in values)}], dtype=np.int64)" if values else "np.zeros(0, dtype=np.int64)"


@per_structure
def model_source(model: Model) -> str:
    """Python/Numba source of the model interface the kernel template expects."""
    sp: Sparsity = sparsity(model)
    pidx = {n: i for i, n in enumerate(model.parameters)}
    sidx = {n: i for i, n in enumerate(model.state_names)}
    comp_vol = {c.name: c.volume for c in model.compartments}
    rename = {n: f"q_{n}" for n in model.parameters}
    rename.update({c: f"q_{v}" for c, v in comp_vol.items()})
    rename.update({s: f"s_{s}" for s in model.state_names})
    rename.update({a.name: f"a_{a.name}" for a in model.rules})

    rules = _needed_rules(model)
    constant = set(model.parameters) | set(comp_vol)
    const_rules: list = []
    for a in rules:  # rules over parameters alone are constants of a segment
        if parse_expr(a.expr, a.name).symbols <= constant:
            constant.add(a.name)
            const_rules.append(a)
    hoister = _Hoister(constant, {a.name for a in const_rules}, rename)

    body: list[str] = []
    for a in rules:
        if a.name not in hoister.rules:
            body.append(f"    a_{a.name} = {parse_expr(a.expr, a.name).to_python(rename, hoister.replace)}")
    for r in model.reactions:
        body.append(f"    v_{r.name} = {parse_expr(r.rate, r.name).to_python(rename, hoister.replace)}")
    terms: dict[str, list[str]] = {s: [] for s in model.state_names}
    for r in model.reactions:
        for s, coef in r.stoichiometry:
            c = float(coef)
            if c == 1.0:
                terms[s].append(f"+ v_{r.name}")
            elif c == -1.0:
                terms[s].append(f"- v_{r.name}")
            else:
                terms[s].append(f"{'+' if c > 0 else '-'} {abs(c)!r} * v_{r.name}")
    for species in model.species:
        inv_vol = hoister.take(f"(1.0 / q_{comp_vol[species.compartment]})")
        body.append(f"    dy[{sidx[species.name]}] = ({' '.join(terms[species.name]) or '0.0'}) * {inv_vol}")
    for st in model.states:
        body.append(f"    dy[{sidx[st.name]}] = {parse_expr(st.rhs, st.name).to_python(rename, hoister.replace)}")

    text = "\n".join(body)
    used_q = sorted({n for n in model.parameters if f"q_{n}" in text}, key=pidx.__getitem__)
    used_s = [s for s in model.state_names if f"s_{s}" in text]
    used_h = [k for k in range(len(hoister.exprs)) if f"h_{k}" in text]

    L: list[str] = [
        '"""Generated by nadsim from a model structure; do not edit (regenerated on change)."""',
        "import math",
        "import time",
        "",
        "import numpy as np",
        "import numpy as xp",
        "from llvmlite import ir",
        "from numba import njit, types",
        "from numba.core import cgutils",
        "from numba.extending import intrinsic",
        "",
        f"N = {len(model.state_names)}",
        f"NH = {len(hoister.exprs)}",
        f"NNZ = {sp.nnz}",
        f"NLU = {sp.lu.nnz}",
        f"N_COLOURS = {sp.n_colours}",
    ]
    col_ptr = [0] * (sp.n + 1)
    for j in sp.cols:
        col_ptr[j + 1] += 1
    for j in range(sp.n):
        col_ptr[j + 1] += col_ptr[j]
    groups = [[j for j in range(sp.n) if sp.colour[j] == g] for g in range(sp.n_colours)]
    colour_ptr = [0]
    for g in groups:
        colour_ptr.append(colour_ptr[-1] + len(g))
    L += [
        f"COL_PTR = {_array_literal(col_ptr)}",
        f"JAC_ROWS = {_array_literal(list(sp.rows))}",
        f"COLOUR_PTR = {_array_literal(colour_ptr)}",
        f"COLOUR_COLS = {_array_literal([j for g in groups for j in g])}",
        "",
        "",
        "@njit(cache=True, nogil=True, error_model=\"numpy\")",
        "def hoist(p, h):",
    ]
    hoist_text = "\n".join(hoister.exprs) + " ".join(
        parse_expr(a.expr, a.name).to_python(rename) for a in const_rules)
    for n in model.parameters:
        if f"q_{n}" in hoist_text:
            L.append(f"    q_{n} = p[{pidx[n]}]")
    for a in const_rules:
        L.append(f"    a_{a.name} = {parse_expr(a.expr, a.name).to_python(rename)}")
    for k, src in enumerate(hoister.exprs):
        L.append(f"    h[{k}] = {src}")
    if not hoister.exprs:
        L.append("    pass")
    L += ["", "", "@njit(cache=True, nogil=True, error_model=\"numpy\")", "def rhs(t, y, p, h, dy):"]
    L += [f"    s_{s} = y[{sidx[s]}]" for s in used_s]
    L += [f"    q_{n} = p[{pidx[n]}]" for n in used_q]
    L += [f"    h_{k} = h[{k}]" for k in used_h]
    L += body
    F, S = lu_code(sp.lu, style="numba")
    L += ["", "", "@njit(cache=True, nogil=True, error_model=\"numpy\")", "def lu_factor(J, c, lu):", *F]
    L += ["", "", "@njit(cache=True, nogil=True, error_model=\"numpy\")", "def lu_solve(lu, b):", *S, ""]
    return "\n".join(L)
