"""Hostile input, counted (issue #15): text with units, the CLI, trial TOML, parameter tables,
SBML files and HTTP.

Each surface runs twice: a seeded sample (``derandomize``; CI, the whole module in well under
a minute once the model is built) and, under the ``slow`` marker, the full run (>= 10,000 cases
over all surfaces; ``python -m tests.fuzz.report --slow`` runs it and rewrites the table in
docs/reliability.md). Every case is classified by :class:`tests.fuzz._tally.Tally`; a test
passes only with 0 tracebacks, 0 5xx, 0 hangs over 60 s, 0 crashes and 0 partial files.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the SBML batch runs in a spawned child that imports tests.fuzz._sbml
    sys.path.insert(0, str(ROOT))

from tests.fuzz import _sbml  # noqa: E402
from tests.fuzz._tally import Hang, Tally  # noqa: E402

from nadsim._errors import NadsimError  # noqa: E402

#: cases per surface: (seeded CI sample, full slow run)
SIZES = {"units": (150, 5000), "cli": (8, 400), "trial_toml": (80, 2500), "parameters": (60, 2000),
         "sbml": (16, 500), "http": (3, 80)}

SIZE = pytest.mark.parametrize("full", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["sample", "full"])


def _settings(surface: str, full: bool) -> settings:
    n = SIZES[surface][1 if full else 0]
    return settings(max_examples=n, deadline=None, database=None, derandomize=not full,
                    suppress_health_check=list(HealthCheck))


# ------------------------------------------------------------------ hostile text
UNIT_WORDS = ["mg", "g", "kg", "ug", "µg", "mL", "L", "min", "h", "s", "d", "week", "uM", "mol", "%", "percent",
              "ppm", "dozen", "meter", "degC", "mg/L", "mL/min", "1/h", "h**-1", "(mg)", "mg**2", "NaN", "inf"]
PUNCT = ["+", "-", "*", "/", "**", "^", "(", ")", " ", "  ", ".", "e", "E", ",", "\x00", "\u202e", "\n", "9", "0"]
NUMBERS = st.one_of(st.integers(-10**30, 10**30).map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr),
                    st.sampled_from(["1e-300", "1e308", "1e999", "-0", "0.0", ".5", "5.", "9**9**9", "1_000"]))
HOSTILE_TEXT = st.one_of(
    st.builds(lambda n, u: f"{n} {u}", NUMBERS, st.sampled_from(UNIT_WORDS)),
    st.lists(st.one_of(NUMBERS, st.sampled_from(UNIT_WORDS + PUNCT)), max_size=12).map("".join),
    st.text(max_size=80),
    st.builds(lambda n: "3 " + "(" * n + "mg" + ")" * n, st.integers(0, 5000)),
    st.builds(lambda n: "9" + "**9" * n + " mg", st.integers(1, 50)),
)


@SIZE
def test_units_and_regimens(full):
    from nadsim.dosing import parse_regimen

    tally = Tally("units and regimens (text)")

    @_settings("units", full)
    @given(dose=HOSTILE_TEXT, infusion=st.one_of(st.none(), HOSTILE_TEXT), every=st.one_of(st.none(), HOSTILE_TEXT),
           doses=st.integers(-5, 20_000), route=st.sampled_from(["iv", "oral", "iv_bolus", "nasal", ""]))
    def case(dose, infusion, every, doses, route):
        try:
            with tally.timed():
                r = parse_regimen(compound="NMN", route=route, dose=dose, infusion=infusion, every=every, doses=doses)
            ok = all(math.isfinite(d.amount_mg) and d.amount_mg > 0 and math.isfinite(d.time_h) for d in r.doses)
            tally.record("accepted" if ok else "traceback", (dose, infusion, every, doses))
        except Hang:
            tally.record("hang", (dose, infusion, every, doses))
        except NadsimError as exc:
            tally.record("refused" if "\n" not in str(exc) else "traceback", (dose, infusion, every, doses))
        except Exception as exc:
            tally.record("traceback", (dose, infusion, every, doses, repr(exc)))

    case()
    tally.write()
    tally.assert_clean(SIZES["units"][full] // 2)


# ------------------------------------------------------------------ the CLI (in process)
CLI_VALUES = {
    "--dose": st.one_of(HOSTILE_TEXT, st.sampled_from(["300 mg", "1 g", "0.5 g"])),
    "--infusion": st.one_of(HOSTILE_TEXT, st.sampled_from(["20 min", "100 mL at 5 mL/min", "1 s"])),
    "--every": st.one_of(HOSTILE_TEXT, st.sampled_from(["1 d", "12 h"])),
    "--doses": st.one_of(st.integers(-3, 5000).map(str), HOSTILE_TEXT),
    "--until": st.one_of(HOSTILE_TEXT, st.sampled_from(["2 h", "6 h", "1 d"])),
    "--step": st.one_of(HOSTILE_TEXT, st.sampled_from(["1 h", "30 min"])),
    "--crp": st.one_of(HOSTILE_TEXT, st.sampled_from(["3 mg/L", "8 mg/L"])),
    "--hamd": st.one_of(st.floats(allow_nan=True).map(repr), HOSTILE_TEXT),
    "--age": st.one_of(st.floats(-1e9, 1e9).map(repr), HOSTILE_TEXT),
    "--route": st.sampled_from(["iv", "oral", "iv_bolus", "rectal", ""]),
    "--compound": st.sampled_from(["NMN", "NR", "NAD", "NAM", "caffeine"]),
    "--format": st.sampled_from(["csv", "json", "table", "xml"]),
    "--evidence": st.sampled_from(list("ABCDEF")),
}


@SIZE
def test_cli_simulate(full, tmp_path, monkeypatch, capsys):
    """``nadsim simulate`` with hostile options, through the real entry point (one-line errors,
    exit 2). A failed run must leave neither its --out file nor a temporary."""
    from nadsim.cli._app import main

    tally = Tally("CLI (nadsim simulate)")
    monkeypatch.chdir(tmp_path)

    @_settings("cli", full)
    @given(opts=st.dictionaries(st.sampled_from(sorted(CLI_VALUES)), st.just(None), max_size=6).flatmap(
        lambda d: st.fixed_dictionaries({k: CLI_VALUES[k] for k in d})))
    def case(opts):
        out = tmp_path / "out.csv"
        for p in tmp_path.iterdir():
            p.unlink()
        argv = ["nadsim", "simulate", "--until", "6 h", "--out", str(out)]
        for k, v in opts.items():
            argv += [k, v]
        monkeypatch.setattr(sys, "argv", argv)
        code = None
        try:
            with tally.timed():
                main()
            code = 0
        except SystemExit as exc:
            code = exc.code
        except Hang:
            tally.record("hang", opts)
            return
        except Exception as exc:
            tally.record("traceback", (opts, repr(exc)))
            return
        finally:
            captured = capsys.readouterr()
        left = sorted(p.name for p in tmp_path.iterdir())
        if code == 0:
            tally.record("accepted" if left == ["out.csv"] else "partial", (opts, left))
        elif code == 2 and "Traceback" not in captured.err and captured.err.count("error:") == 1:
            tally.record("refused" if not left else "partial", (opts, left))
        else:
            tally.record("traceback", (opts, code, captured.err[-300:]))

    case()
    tally.write()
    tally.assert_clean(SIZES["cli"][full] // 2)


# ------------------------------------------------------------------ trial TOML (parsing only)
EXAMPLE_TRIAL = ROOT / "examples" / "trials" / "nmn-drip-depression.toml"
HOSTILE_VALUES = st.one_of(HOSTILE_TEXT, st.integers(-2**63, 2**63), st.floats(allow_nan=True, allow_infinity=True),
                           st.booleans(), st.just([]), st.just({}), st.lists(st.integers(), max_size=3),
                           st.just("x" * 100_000), st.just({"a": {"b": {"c": 1}}}))


def _paths(obj, prefix=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


def _mutate(data, path, value, how):
    import copy

    d = copy.deepcopy(data)
    parent = d
    for p in path[:-1]:
        parent = parent[p]
    last = path[-1]
    if how == "delete" and isinstance(parent, dict):
        parent.pop(last, None)
    elif how == "add" and isinstance(parent, dict):
        parent[f"unknown_{last}"] = value
    else:
        parent[last] = value
    return d


@SIZE
def test_trial_toml(full, tmp_path):
    from nadsim.trial._spec import load_trial, parse_trial

    base = tomllib.loads(EXAMPLE_TRIAL.read_text(encoding="utf-8"))
    paths = list(_paths(base))
    text = EXAMPLE_TRIAL.read_text(encoding="utf-8")
    tally = Tally("trial TOML (spec loader)")

    @_settings("trial_toml", full)
    @given(st.one_of(
        st.tuples(st.just("dict"), st.lists(st.tuples(st.sampled_from(paths), HOSTILE_VALUES,
                                                     st.sampled_from(["set", "delete", "add"])), min_size=1, max_size=4)),
        st.tuples(st.just("text"), st.tuples(st.integers(0, len(text)), st.text(max_size=40), st.integers(0, 200)))))
    def case(spec):
        kind, what = spec
        try:
            with tally.timed():
                if kind == "dict":
                    data = base
                    for path, value, how in what:
                        with contextlib.suppress(KeyError, IndexError, TypeError):
                            data = _mutate(data, path, value, how)
                    parse_trial(data)
                else:
                    at, insert, cut = what
                    f = tmp_path / "trial.toml"
                    f.write_text(text[:at] + insert + text[at + cut:], encoding="utf-8", errors="surrogatepass")
                    load_trial(f)
            tally.record("accepted")
        except Hang:
            tally.record("hang", spec)
        except NadsimError as exc:
            tally.record("refused" if "\n" not in str(exc) else "traceback", (spec, str(exc)[:200]))
        except Exception as exc:
            tally.record("traceback", (spec, repr(exc)[:300]))

    case()
    tally.write()
    tally.assert_clean(SIZES["trial_toml"][full] // 2)


# ------------------------------------------------------------------ parameter tables
PARAMS = ROOT / "src" / "nadsim" / "library" / "nad_core" / "parameters.toml"


@SIZE
def test_parameter_tables(full, tmp_path):
    """nad_core's parameters.toml with hostile values, units and bounds (load_parameters); an
    accepted table must hold only finite values within their bounds."""
    from nadsim.model._parameter import load_parameters

    base = tomllib.loads(PARAMS.read_text(encoding="utf-8"))
    names = sorted(base)
    fields = sorted({k for v in base.values() if isinstance(v, dict) for k in v})
    tally = Tally("parameter tables")

    def dump(data) -> str:
        lines = []
        for name, entry in data.items():
            lines.append(f"[{name}]")
            for k, v in entry.items():
                lines.append(f"{k} = {_toml_value(v)}")
        return "\n".join(lines) + "\n"

    @_settings("parameters", full)
    @given(st.lists(st.tuples(st.sampled_from(names), st.sampled_from([*fields, "value", "unit", "bounds", "extra"]),
                              st.one_of(HOSTILE_VALUES, st.lists(st.floats(allow_nan=True), max_size=3))),
                    min_size=1, max_size=3))
    def case(changes):
        import copy

        data = copy.deepcopy(base)
        for name, key, value in changes:
            if isinstance(data.get(name), dict):
                data[name][key] = value
        f = tmp_path / "parameters.toml"
        try:
            f.write_text(dump(data), encoding="utf-8", errors="surrogatepass")
        except (TypeError, ValueError):
            return
        try:
            with tally.timed():
                params = load_parameters(f)
            ok = all(math.isfinite(p.value) for p in params.values())
            tally.record("accepted" if ok else "traceback", changes)
        except Hang:
            tally.record("hang", changes)
        except NadsimError as exc:
            tally.record("refused" if "\n" not in str(exc) else "traceback", (changes, str(exc)[:200]))
        except Exception as exc:
            tally.record("traceback", (repr(exc)[:200], changes))

    case()
    tally.write()
    tally.assert_clean(SIZES["parameters"][full] // 3)


def _toml_value(v) -> str:
    import json

    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if v != v else ("inf" if v == math.inf else "-inf" if v == -math.inf else repr(v))
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + "}"
    return json.dumps(str(v))


# ------------------------------------------------------------------ SBML files
def _hostile_sbml() -> st.SearchStrategy[str]:
    S = _sbml
    nested = st.integers(1, 30_000).map(lambda n: S.document("<apply><minus/>" * n + S.KS + "</apply>" * n))
    wide = st.integers(1, 300_000).map(lambda n: S.document("<apply><plus/>" + "<ci>S</ci>" * n + "</apply>"))
    bomb = st.tuples(st.integers(1, 60), st.integers(1, 4)).map(
        lambda lf: S.document(f"<apply><ci>f{lf[0]}</ci><ci>S</ci></apply>", functions=S.chain(*lf)))
    recursive = st.sampled_from(["f", "g"]).map(lambda f: S.document(
        f"<apply><ci>{f}</ci><ci>S</ci></apply>",
        functions=S.fdef("f", "<apply><ci>g</ci><ci>x</ci></apply>") + S.fdef("g", "<apply><ci>f</ci><ci>x</ci></apply>")))
    numbers = st.sampled_from(["NaN", "INF", "-INF", "1e999", "-0", "0", "1e-320", "abc", ""])
    values = st.tuples(numbers, st.sampled_from(["k", "size", "s0"])).map(lambda v: S.document(**{v[1]: v[0]}))
    maths = st.sampled_from(["<infinity/>", "<notanumber/>", "<cn>NaN</cn>", '<cn type="e-notation">1<sep/>400</cn>',
                             "<apply><divide/><cn>1</cn><cn>0</cn></apply>", "<piecewise/>", "<apply><ci>nope</ci></apply>",
                             "<apply><root/><degree><cn>0</cn></degree><ci>S</ci></apply>", "<csymbol/>"]).map(
        lambda m: S.document(f"<apply><times/>{m}<ci>S</ci></apply>"))
    dtd = st.integers(1, 9).map(lambda n: S.document(head='<?xml version="1.0"?><!DOCTYPE sbml [<!ENTITY a "'
                                                      + "a" * 10 + '">' + "".join(f'<!ENTITY a{i} "&a;&a;">' for i in range(n))
                                                      + "]>"))
    cut = st.tuples(st.integers(0, 1500), st.binary(max_size=30)).map(
        lambda cb: S.document()[:cb[0]] + cb[1].decode("latin-1"))
    junk = st.text(max_size=300)
    return st.one_of(nested, wide, bomb, recursive, values, maths, dtd, cut, junk, st.just(S.document()))


@SIZE
def test_sbml_files(full):
    """Each batch of documents is read in a child process (nadsim._procs.run_isolated): a native
    crash ends only the child and is counted as a crash."""
    from nadsim._procs import ChildCrashed, run_isolated

    tally = Tally("SBML files")
    texts: list[str] = []

    @_settings("sbml", full)
    @given(_hostile_sbml())
    def collect(text):
        texts.append(text)

    collect()
    batch = 50
    for i in range(0, len(texts), batch):
        chunk = texts[i:i + batch]
        try:
            results = run_isolated(_sbml.read_batch, chunk, timeout_s=120 + 2 * len(chunk))
        except ChildCrashed as exc:
            if "ran past" in exc.reason:
                tally.record("hang", (i, exc.reason))
            else:
                tally.record("crash", (i, exc.reason))
            continue
        for text, (outcome, detail, seconds) in zip(chunk, results, strict=True):
            tally.slowest_s = max(tally.slowest_s, seconds)
            if seconds > 60:
                outcome = "hang"
            tally.record(outcome, (text[:200], detail))
    tally.write()
    tally.assert_clean(SIZES["sbml"][full] // 2)


# ------------------------------------------------------------------ HTTP (schemathesis)
def _http_schema():
    import schemathesis
    from schemathesis import GenerationMode

    from nadsim.web import create_app
    from nadsim.web._guard import DEFAULT_ALLOWED_HOSTS
    from nadsim.web.jobs import JobManager

    jobs = JobManager(max_concurrent=1, max_stored=8, timeout_s=5.0,
                      targets={"trial": "nadsim.web._service:sleep_job", "claims": "nadsim.web._service:sleep_job"})
    app = create_app(jobs=jobs, allowed_hosts=(*DEFAULT_ALLOWED_HOSTS, "testserver"))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    schema.config.phases.update(phases=["examples", "fuzzing"])
    schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], deterministic=True)
    return schema, jobs


_SCHEMA, _JOBS = _http_schema()
_HTTP = {False: Tally("HTTP API (schemathesis)"), True: Tally("HTTP API (schemathesis)")}


def _http_case(case, full: bool) -> None:
    import time

    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    tally = _HTTP[full]
    t0 = time.perf_counter()
    try:
        response = case.call(timeout=120)
    except Exception as exc:
        tally.record("traceback", (case.path, repr(exc)[:300]))
        return
    dt = time.perf_counter() - t0
    tally.slowest_s = max(tally.slowest_s, dt)
    if dt > 60:
        tally.record("hang", (case.method, case.path, dt))
    elif response.status_code >= 500:
        tally.record("5xx", (case.method, case.path, response.status_code, response.text[:200]))
    else:
        try:
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
            tally.record("accepted" if response.status_code < 400 else "refused")
        except Exception as exc:
            tally.record("traceback", (case.method, case.path, response.status_code, str(exc)[:300]))


@_SCHEMA.parametrize()
@settings(max_examples=SIZES["http"][0], deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_http_sample(case):
    _http_case(case, False)


@pytest.mark.slow
@_SCHEMA.parametrize()
@settings(max_examples=SIZES["http"][1], deadline=None, derandomize=False, database=None,
          suppress_health_check=list(HealthCheck))
def test_http_full(case):
    _http_case(case, True)


@pytest.fixture(scope="module", autouse=True)
def _http_totals():
    yield
    _JOBS.shutdown()
    for tally in _HTTP.values():
        if tally.counts["tried"]:
            tally.write()
            assert not tally.failures(), f"HTTP: {tally.failures()}; {tally.examples}"


def test_fuzz_environment_is_not_left_dirty():
    """The fuzzers write only under pytest's tmp_path and the system temporary directory."""
    assert not list(ROOT.glob("*.tmp")) and not list((ROOT / "src").rglob("*.tmp"))
    assert os.environ.get("NADSIM_FUZZ_OUT", "") != str(ROOT / "docs" / "reliability.md")
