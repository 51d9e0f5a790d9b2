"""Rate-law expressions: a small, safe maths language shared by every backend.

An expression is text such as ``"V_liver * Vmax * NAM_l / (Km + NAM_l)"``. It is parsed
once with :mod:`ast` against a whitelist (numbers, names, + - * / **, and the functions
in :data:`FUNCTIONS`); nothing is ever ``eval``-ed from user text. From the parsed tree we
derive, without a second hand-written copy of the model:

* the symbols it uses (for dependency checks),
* its unit (dimensional analysis with pint, checked at model build),
* Python source written against an array namespace ``xp`` (NumPy or ``jax.numpy``),
* an SBML Level 3 infix formula (for libSBML's ``parseL3Formula``).
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pint

from nadsim._errors import ModelDefinitionError
from nadsim._units import ureg

__all__ = ["FUNCTIONS", "Expr", "parse_expr"]

#: function name -> (arity, xp spelling, SBML spelling); all take dimensionless arguments
#: except min/max/abs (which keep the unit of their arguments).
FUNCTIONS: dict[str, tuple[int, str, str]] = {
    "exp": (1, "xp.exp", "exp"),
    "log": (1, "xp.log", "ln"),
    "sqrt": (1, "xp.sqrt", "sqrt"),
    "sin": (1, "xp.sin", "sin"),
    "cos": (1, "xp.cos", "cos"),
    "tanh": (1, "xp.tanh", "tanh"),
    "abs": (1, "xp.abs", "abs"),
    "min": (2, "xp.minimum", "min"),
    "max": (2, "xp.maximum", "max"),
}
_UNIT_PRESERVING = {"abs", "min", "max", "sqrt"}
CONSTANTS = {"pi": 3.141592653589793}

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}


@dataclass(frozen=True)
class Expr:
    """A parsed, validated expression."""

    text: str
    tree: ast.expr

    @property
    def symbols(self) -> frozenset[str]:
        return _symbols(self.tree)

    def to_python(self, rename: dict[str, str], replace: Callable[[ast.expr], str | None] | None = None) -> str:
        """Python source using ``xp`` for functions; symbols renamed through ``rename``.

        ``replace(node)`` may return source to use for a whole subtree instead (code
        generators use it to read hoisted parameter-only subexpressions from a table).
        """
        return _py(self.tree, rename, replace)

    def to_sbml(self) -> str:
        return _sbml(self.tree)

    def unit(self, units: dict[str, Any], where: str) -> Any:
        return _unit(self.tree, units, where, self.text)


@lru_cache(maxsize=4096)
def parse_expr(text: str, where: str = "expression") -> Expr:
    """Parse and whitelist-check ``text``; raise :class:`ModelDefinitionError` naming ``where``."""
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ModelDefinitionError(where, "a valid arithmetic expression", text) from exc
    _check(tree, where, text)
    return Expr(text=text, tree=tree)


def _num(value: Any) -> float:
    """A literal's value (``_check`` admits only int and float constants)."""
    return float(value)


def _check(node: ast.AST, where: str, text: str) -> None:
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, int | float) or isinstance(node.value, bool):
            raise ModelDefinitionError(where, "numbers and names only", text)
    elif isinstance(node, ast.Name):
        pass
    elif isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        _check(node.left, where, text)
        _check(node.right, where, text)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        _check(node.operand, where, text)
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        name = node.func.id
        if name not in FUNCTIONS:
            raise ModelDefinitionError(where, f"one of the functions {sorted(FUNCTIONS)}", name)
        if node.keywords or len(node.args) != FUNCTIONS[name][0]:
            raise ModelDefinitionError(where, f"{name}() with {FUNCTIONS[name][0]} argument(s)", text)
        for a in node.args:
            _check(a, where, text)
    else:
        raise ModelDefinitionError(where, "arithmetic on numbers and names only", text)


def _symbols(node: ast.AST) -> frozenset[str]:
    out = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    called = {n.func.id for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    return frozenset(out - called - set(CONSTANTS))


def _py(node: ast.AST, rename: dict[str, str], replace: Callable[[ast.expr], str | None] | None = None) -> str:
    if replace is not None and isinstance(node, ast.expr):
        alt = replace(node)
        if alt is not None:
            return alt
    if isinstance(node, ast.Constant):
        return repr(_num(node.value))
    if isinstance(node, ast.Name):
        if node.id in CONSTANTS:
            return repr(CONSTANTS[node.id])
        return rename.get(node.id, node.id)
    if isinstance(node, ast.BinOp):
        return f"({_py(node.left, rename, replace)} {_BINOPS[type(node.op)]} {_py(node.right, rename, replace)})"
    if isinstance(node, ast.UnaryOp):
        sign = "-" if isinstance(node.op, ast.USub) else "+"
        return f"({sign}{_py(node.operand, rename, replace)})"
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        args = ", ".join(_py(a, rename, replace) for a in node.args)
        return f"{FUNCTIONS[node.func.id][1]}({args})"
    raise AssertionError(node)  # unreachable after _check


def _sbml(node: ast.AST) -> str:
    if isinstance(node, ast.Constant):
        return repr(_num(node.value))
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.BinOp):
        op = _BINOPS[type(node.op)]
        if op == "**":
            return f"pow({_sbml(node.left)}, {_sbml(node.right)})"
        return f"({_sbml(node.left)} {op} {_sbml(node.right)})"
    if isinstance(node, ast.UnaryOp):
        return f"(-{_sbml(node.operand)})" if isinstance(node.op, ast.USub) else _sbml(node.operand)
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        return f"{FUNCTIONS[node.func.id][2]}({', '.join(_sbml(a) for a in node.args)})"
    raise AssertionError(node)


def _const_value(node: ast.AST) -> float | None:
    if isinstance(node, ast.Constant):
        return _num(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant):
        v = _num(node.operand.value)
        return -v if isinstance(node.op, ast.USub) else v
    return None


def _unit(node: ast.AST, units: dict[str, Any], where: str, text: str) -> Any:
    one = ureg.dimensionless
    if isinstance(node, ast.Constant):
        return one
    if isinstance(node, ast.Name):
        if node.id in CONSTANTS:
            return one
        if node.id not in units:
            raise ModelDefinitionError(where, "defined symbols only", node.id,
                                       hint="Declare it as a species, parameter, state or rule")
        return units[node.id]
    if isinstance(node, ast.UnaryOp):
        return _unit(node.operand, units, where, text)
    if isinstance(node, ast.BinOp):
        left = _unit(node.left, units, where, text)
        if isinstance(node.op, ast.Pow):
            exponent = _const_value(node.right)
            right = _unit(node.right, units, where, text)
            if right.dimensionality:
                raise ModelDefinitionError(where, "a dimensionless exponent", text)
            if exponent is None:
                if left.dimensionality:
                    raise ModelDefinitionError(where, "a dimensionless base when the exponent is symbolic", text)
                return one
            return left**exponent
        right = _unit(node.right, units, where, text)
        if isinstance(node.op, ast.Add | ast.Sub):
            if left.dimensionality != right.dimensionality:
                raise ModelDefinitionError(
                    where, "terms of one dimension in a sum",
                    f"{text!r}: [{left}] vs [{right}]",
                )
            return left
        if isinstance(node.op, ast.Mult):
            return left * right
        return left / right
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        name = node.func.id
        args = [_unit(a, units, where, text) for a in node.args]
        if name in ("min", "max"):
            if args[0].dimensionality != args[1].dimensionality:
                raise ModelDefinitionError(where, f"{name}() of one dimension", text)
            return args[0]
        if name == "abs":
            return args[0]
        if name == "sqrt":
            return args[0] ** 0.5
        if any(a.dimensionality for a in args):
            raise ModelDefinitionError(where, f"a dimensionless argument to {name}()", text)
        return one
    raise AssertionError(node)


def same_dimension(a: Any, b: Any) -> bool:
    return (1 * a).to_base_units().units == (1 * b).to_base_units().units and _factor(a, b) == 1.0


def _factor(a: Any, b: Any) -> float:
    try:
        return round(float((1 * a).to(b).magnitude), 12)
    except pint.DimensionalityError:
        return float("nan")
