"""The web page and the CLI simulate the same default patient at the same tolerances (audit:
the web's CRP 3 / PSQI 8 at rtol 1e-6 against the CLI's CRP 2 / PSQI 9 at rtol 1e-8 made the
article regimen's CRP change -0.29 on the page and -0.19 in ``nadsim demo``)."""

from __future__ import annotations

import re
from importlib import resources

import numpy as np

from nadsim import app
from nadsim.dosing import parse_regimen
from nadsim.library import get_model
from nadsim.web import _service as svc
from nadsim.web.schemas import SimulateRequest

ARTICLE = parse_regimen(compound="NMN", route="iv", dose="300 mg", infusion="100 mL at 5 mL/min")


def test_default_patient_is_the_models_own():
    web = SimulateRequest()
    assert svc.patient_profile(web.profile) == app.default_profile()
    assert web.profile.weight_kg == get_model().parameters["BW"].value
    # the CLI sends no profile when no option is given: the model's parameters are the patient
    cli, page = get_model(), get_model(profile=app.default_profile())
    assert {k: p.value for k, p in page.parameters.items()} == {k: p.value for k, p in cli.parameters.items()}


def test_default_tolerances_are_the_clis():
    web = svc.regimen_request(SimulateRequest())
    cli = app.PatientRequest(ARTICLE, np.array([0.0, 1.0]))
    assert web.tolerances is app.PATIENT_TOLERANCES
    assert cli.tolerances is app.PATIENT_TOLERANCES


def test_page_form_shows_the_default_patient():
    """The form's initial values (before app.js fills them from /api/meta) are the default patient."""
    html = resources.files("nadsim.web").joinpath("static/index.html").read_text(encoding="utf-8")
    d = SimulateRequest().profile.model_dump()
    for field in ("age_y", "weight_kg", "crp_mg_L", "hamd", "psqi"):
        m = re.search(rf'name="{field}"[^>]*value="([^"]+)"', html)
        assert m is not None, field
        assert float(m.group(1)) == d[field], field


def test_article_regimen_crp_change_is_the_demos():
    """End to end: the page's default request and ``nadsim demo``'s runs give the same CRP change
    at 72 h (reference: simulate_patient, the demo's verb; same model values, tolerances and
    grid, so they agree to round-off: 1e-9 relative)."""
    req = SimulateRequest.model_validate({"regimen": {"compound": "NMN", "route": "iv", "dose_mg": 300,
                                                      "infusion_volume_mL": 100, "infusion_rate_mL_min": 5},
                                          "until_h": 72})
    run = svc.simulate_request(req)
    t = run.dosed["time"].values
    demo = app.simulate_patient(app.PatientRequest(ARTICLE, t))
    assert demo.undosed is not None
    web_crp = float(run.dosed["CRP"].values[-1] - run.reference["CRP"].values[-1])
    cli_crp = float(demo.dosed["CRP"].values[-1] - demo.undosed["CRP"].values[-1])
    np.testing.assert_allclose(web_crp, cli_crp, rtol=1e-9)
    assert run.dosed.attrs["rtol"] == demo.dosed.attrs["rtol"]
