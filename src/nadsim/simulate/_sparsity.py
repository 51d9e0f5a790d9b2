"""The model's sparse structure: Jacobian pattern, column colouring and a fixed-order sparse LU.

Measured on the default model (48 states): the Jacobian has 134 structural nonzeros of 2,304;
9 column colours give a finite-difference Jacobian in 9 right-hand sides instead of 48; the LU
of the iteration matrix ``M = I - c J`` in a static Markowitz order has 162 nonzeros, ~170
flops to factor and ~280 to solve, against ~37,000 and ~4,600 dense
(`../shared/notes/engine-measurements.md`). Everything here is structural (it depends on which
symbols each expression uses, never on values), so it is computed once per model structure.

:func:`lu_code` writes the factorisation and the solve as straight-line source: every index is a
constant, so a compiler (LLVM through Numba, XLA through JAX) sees a fixed dataflow graph with
no index arrays. The diagonal is pivoted in a fixed order without row exchanges; that is safe
for ``I - c J`` at the step sizes a stiff solver takes (the diagonal dominates for small ``c``),
and a tiny pivot is reported so that the solver can shrink the step and refactorise, as CVODE
does when its linear solver fails.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nadsim.model import Model, parse_expr
from nadsim.simulate._structure_cache import per_structure

__all__ = ["LUPlan", "Sparsity", "lu_code", "sparsity"]

#: a pivot below this (in absolute value) makes the factorisation report failure
PIVOT_TINY = 1e-13


@dataclass(frozen=True)
class LUPlan:
    """A symbolic LU of ``M = I - c J`` with diagonal pivots in ``order``.

    ``positions`` lists every (row, col) of L + U (original state indices); ``index`` maps each
    to its slot in the value array. ``from_jac[k]`` is the slot of Jacobian nonzero ``k``;
    ``diag[i]`` the slot of (i, i).
    """

    order: tuple[int, ...]
    positions: tuple[tuple[int, int], ...]
    from_jac: tuple[int, ...]
    diag: tuple[int, ...]

    @property
    def nnz(self) -> int:
        return len(self.positions)

    def slot(self, i: int, j: int) -> int:
        return self.positions.index((i, j))


@dataclass(frozen=True)
class Sparsity:
    """Structural Jacobian ``d rhs_i / d y_j`` of a model: nonzeros ``rows[k], cols[k]`` sorted
    by column, a greedy column colouring (``colour[j]``), and the LU plan."""

    n: int
    rows: tuple[int, ...]
    cols: tuple[int, ...]
    colour: tuple[int, ...]
    lu: LUPlan

    @property
    def nnz(self) -> int:
        return len(self.rows)

    @property
    def n_colours(self) -> int:
        return max(self.colour, default=-1) + 1

    def dense_mask(self) -> np.ndarray:
        m = np.zeros((self.n, self.n), dtype=bool)
        m[list(self.rows), list(self.cols)] = True
        return m


def _state_dependencies(model: Model) -> list[set[int]]:
    """For each derivative (state order), the states it depends on, through assignment rules."""
    sidx = {n: i for i, n in enumerate(model.state_names)}
    rule_deps: dict[str, set[int]] = {}
    for a in model.rules:  # a rule may use earlier rules only
        deps: set[int] = set()
        for s in parse_expr(a.expr, a.name).symbols:
            if s in sidx:
                deps.add(sidx[s])
            elif s in rule_deps:
                deps |= rule_deps[s]
        rule_deps[a.name] = deps

    def deps_of(text: str, where: str) -> set[int]:
        out: set[int] = set()
        for s in parse_expr(text, where).symbols:
            if s in sidx:
                out.add(sidx[s])
            elif s in rule_deps:
                out |= rule_deps[s]
        return out

    rows: list[set[int]] = [set() for _ in model.state_names]
    for r in model.reactions:
        d = deps_of(r.rate, r.name)
        for sp, coef in r.stoichiometry:
            if coef != 0:
                rows[sidx[sp]] |= d
    for st in model.states:
        rows[sidx[st.name]] |= deps_of(st.rhs, st.name)
    return rows


def _colour(n: int, rows: list[set[int]]) -> tuple[int, ...]:
    """Greedy colouring of columns: two columns share a colour when no row uses both."""
    col_rows: list[set[int]] = [set() for _ in range(n)]
    for i, deps in enumerate(rows):
        for j in deps:
            col_rows[j].add(i)
    colour = [-1] * n
    used: list[set[int]] = []  # rows touched by each colour
    for j in sorted(range(n), key=lambda j: -len(col_rows[j])):  # largest columns first
        for c, touched in enumerate(used):
            if not (touched & col_rows[j]):
                colour[j] = c
                touched |= col_rows[j]
                break
        else:
            colour[j] = len(used)
            used.append(set(col_rows[j]))
    return tuple(colour)


def _lu_plan(n: int, pattern: set[tuple[int, int]]) -> LUPlan:
    """Markowitz order (fewest (r - 1)(c - 1) in the active submatrix, ties to the lower index)
    on the pattern of ``M`` (Jacobian plus diagonal), and the fill it causes."""
    nz = set(pattern) | {(i, i) for i in range(n)}
    active = set(range(n))
    order: list[int] = []
    while active:
        def cost(k: int) -> tuple[int, int]:
            r = sum(1 for j in active if (k, j) in nz)
            c = sum(1 for i in active if (i, k) in nz)
            return ((r - 1) * (c - 1), k)

        k = min(active, key=cost)
        active.discard(k)
        below = [i for i in active if (i, k) in nz]
        right = [j for j in active if (k, j) in nz]
        for i in below:
            for j in right:
                nz.add((i, j))  # fill-in
        order.append(k)
    rank = {k: r for r, k in enumerate(order)}
    positions = tuple(sorted(nz, key=lambda ij: (rank[ij[0]], rank[ij[1]])))
    index = {ij: s for s, ij in enumerate(positions)}
    return LUPlan(order=tuple(order), positions=positions,
                  from_jac=tuple(index[ij] for ij in sorted(pattern, key=lambda ij: (ij[1], ij[0]))),
                  diag=tuple(index[(i, i)] for i in range(n)))


@per_structure
def sparsity(model: Model) -> Sparsity:
    """The structural sparsity of ``model`` (cached per structure; values do not enter)."""
    n = len(model.state_names)
    deps = _state_dependencies(model)
    pattern = {(i, j) for i, d in enumerate(deps) for j in d}
    by_col = sorted(pattern, key=lambda ij: (ij[1], ij[0]))
    return Sparsity(n=n, rows=tuple(i for i, _ in by_col), cols=tuple(j for _, j in by_col),
                    colour=_colour(n, deps), lu=_lu_plan(n, pattern))


def lu_code(plan: LUPlan, *, style: str = "numba") -> tuple[list[str], list[str]]:
    """Bodies (lines, 4-space indented) of ``factor(J, c, lu)`` and ``solve(lu, b)``.

    ``factor`` fills ``lu`` with the factors of ``I - c J`` (``J`` the Jacobian values in
    :attr:`Sparsity.rows`/``cols`` order) and stores the *inverse* of each pivot, so that the
    solve multiplies. ``style="numba"``: arrays updated in place, ``return False`` on a tiny
    pivot, ``return True`` at the end. ``style="xp"``: ``lu`` and ``b`` are Python lists of
    (batched) arrays, ``ok`` accumulates the pivot test and is returned; ``xp`` is the array
    namespace. ``solve`` overwrites ``b`` with ``M^-1 b``.
    """
    rank = {k: r for r, k in enumerate(plan.order)}
    index = {ij: s for s, ij in enumerate(plan.positions)}
    numba = style == "numba"
    F: list[str] = []
    emit = F.append
    if numba:
        emit("    for s in range(lu.shape[0]):")
        emit("        lu[s] = 0.0")
    else:
        emit("    zero = 0.0 * J[0]")
        emit(f"    lu = [zero] * {plan.nnz}")
        emit("    ok = True")
    for k, s in enumerate(plan.from_jac):
        emit(f"    lu[{s}] = -c * J[{k}]")
    for s in plan.diag:
        emit(f"    lu[{s}] = lu[{s}] + 1.0")
    for k in plan.order:
        piv = index[(k, k)]
        if numba:
            emit(f"    if abs(lu[{piv}]) < {PIVOT_TINY!r}:")
            emit("        return False")
        else:
            emit(f"    ok = ok & (xp.abs(lu[{piv}]) >= {PIVOT_TINY!r})")
        emit(f"    lu[{piv}] = 1.0 / lu[{piv}]")
        below = [i for (i, j) in plan.positions if j == k and rank[i] > rank[k]]
        right = [j for (i, j) in plan.positions if i == k and rank[j] > rank[k]]
        for i in below:
            emit(f"    lu[{index[(i, k)]}] = lu[{index[(i, k)]}] * lu[{piv}]")
            for j in right:
                emit(f"    lu[{index[(i, j)]}] = lu[{index[(i, j)]}] - lu[{index[(i, k)]}] * lu[{index[(k, j)]}]")
    emit("    return True" if numba else "    return lu, ok")

    S: list[str] = []
    emit = S.append
    for k in plan.order:  # forward: L has a unit diagonal
        for (i, j) in plan.positions:
            if j == k and rank[i] > rank[k]:
                emit(f"    b[{i}] = b[{i}] - lu[{index[(i, k)]}] * b[{k}]")
    for k in reversed(plan.order):  # backward: U, pivots stored inverted
        terms = [f" - lu[{index[(k, j)]}] * b[{j}]" for (i, j) in plan.positions if i == k and rank[j] > rank[k]]
        emit(f"    b[{k}] = (b[{k}]{''.join(terms)}) * lu[{index[(k, k)]}]")
    if not numba:
        emit("    return b")
    return F, S
