"""The page's summary says what its changes are measured against (the undosed run, or the
placebo arm in a trial context) and which HAM-D sign is an improvement, in both languages."""

from __future__ import annotations

import json
from importlib import resources

from nadsim import app

STATIC = resources.files("nadsim.web").joinpath("static")


def _dict(lang: str) -> dict[str, str]:
    return json.loads(STATIC.joinpath(f"i18n/{lang}.json").read_text(encoding="utf-8"))


def test_summary_note_names_its_reference_and_the_hamd_sign():
    en, ja = _dict("en"), _dict("ja")
    assert "without dosing" in en["summary.reference"] and "placebo arm" in en["summary.reference.trial"]
    for key in ("summary.reference", "summary.reference.trial"):
        assert "For HAM-D a negative change is an improvement." in en[key]
        assert "HAM-Dは負の変化が改善です。" in ja[key]
    js = STATIC.joinpath("app.js").read_text(encoding="utf-8")
    assert 't(m.applied.trial_context ? "summary.reference.trial" : "summary.reference")' in js


def test_parameter_texts_do_not_claim_a_source_for_every_number():
    """152 of the 245 parameters have no source (derived or assumed): the page says which do."""
    for lang, word in (("en", "source"), ("ja", "出典")):
        d = _dict(lang)
        for key in ("params.intro", "about.text"):
            assert word in d[key]
        assert "Every parameter carries its source" not in d["about.text"]
    ps = app.base_model().parameters.values()
    assert sum(1 for p in ps if not p.provenance.source) > 0  # why the texts above cannot say "every"
