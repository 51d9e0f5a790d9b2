"""The definition layer refuses inconsistent models, naming what is wrong."""

import pickle

import pytest

from nadsim import ModelDefinitionError
from nadsim.library import build_nad_core
from nadsim.model import (
    Compartment,
    Model,
    Parameter,
    Provenance,
    Species,
    load_parameters,
    parse_expr,
    rxn,
)


def _p(name, value, unit="dimensionless", lo=0.0, hi=1e9, **kw):
    return Parameter(name, value, unit, (lo, hi), Provenance(kw.pop("kind", "assumed"), "E"), **kw)


def _model(rate="V * k * A", stoich=None, params=None, **kw):
    ps = params or [_p("V", 1.0, "L"), _p("k", 1.0, "1/h")]
    return Model(
        name="t", compartments=(Compartment("c", "V"),),
        species=(Species("A", "c"), Species("B", "c")),
        reactions=(rxn("r", stoich or {"A": -1, "B": 1}, rate),),
        parameters={p.name: p for p in ps}, **kw)


def test_a_valid_model_builds():
    m = _model()
    assert m.state_names == ("A", "B")


def test_rate_with_wrong_unit_is_refused():
    with pytest.raises(ModelDefinitionError, match=r"reaction r.*mol / h"):
        _model(rate="k * A")  # uM/h, not umol/h


def test_sum_of_different_dimensions_is_refused():
    with pytest.raises(ModelDefinitionError, match="one dimension"):
        _model(rate="V * k * (A + k)")


def test_undefined_symbol_is_named():
    with pytest.raises(ModelDefinitionError, match="Km"):
        _model(rate="V * k * A / (Km + A)")


def test_unbalanced_moiety_is_refused_unless_boundary():
    with pytest.raises(ModelDefinitionError, match="balanced"):
        _model(stoich={"A": -1, "B": 2})


def test_duplicate_identifier_is_refused():
    with pytest.raises(ModelDefinitionError, match="unique"):
        _model(params=[_p("V", 1.0, "L"), _p("k", 1.0, "1/h"), _p("A", 1.0)])


def test_expression_whitelist():
    with pytest.raises(ModelDefinitionError):
        parse_expr("__import__('os').system('true')")
    with pytest.raises(ModelDefinitionError):
        parse_expr("A[0]")
    with pytest.raises(ModelDefinitionError, match="functions"):
        parse_expr("eval(A)")
    assert parse_expr("exp(-k * t) * A ** 2").symbols == {"k", "t", "A"}


def test_parameter_outside_bounds_and_circular_derivation():
    with pytest.raises(ModelDefinitionError, match="bounds"):
        _p("x", 5.0, lo=0.0, hi=1.0)
    a = _p("a", 0.0, expr="b * 2", kind="derived")
    b = _p("b", 0.0, expr="a * 2", kind="derived")
    with pytest.raises(ModelDefinitionError, match="circular"):
        _model(params=[_p("V", 1.0, "L"), _p("k", 1.0, "1/h"), a, b])


def test_parameter_table_has_units_sources_and_grades():
    params = build_nad_core().parameters
    for name, p in params.items():
        assert p.unit, name
        assert p.provenance.grade in "ABCDE"
        if p.provenance.kind in ("measured", "fitted"):
            assert p.provenance.source, name
        if p.provenance.kind == "fitted":
            assert p.provenance.fitted_to, f"{name} is fitted but does not name its calibration rows"


def test_bad_parameter_file_names_the_problem(tmp_path):
    f = tmp_path / "parameters.toml"
    f.write_text('[x]\nvalue = 1.0\nunit = "blorbs per zork"\n')
    with pytest.raises(ModelDefinitionError, match=r"x\.unit"):
        load_parameters(f)
    f.write_text("[x\nvalue = ")
    with pytest.raises(ModelDefinitionError, match="TOML"):
        load_parameters(f)


def test_model_is_immutable_hashable_and_pickles():
    m = build_nad_core()
    m2 = m.with_parameters(V_muscle=30.0)
    assert m.parameters["V_muscle"].value == 28.0 and m2.parameters["V_muscle"].value == 30.0
    assert m.hash() != m2.hash()
    assert pickle.loads(pickle.dumps(m)) == m
    with pytest.raises(ModelDefinitionError, match="derived"):
        m.with_parameters(V_plasma=1.0)
    with pytest.raises(TypeError):
        m.parameters["V_muscle"] = None  # type: ignore[index]
