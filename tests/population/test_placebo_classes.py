"""Placebo responder classes: Stone 2022's three-component mixture drawn per virtual patient."""

import numpy as np
import pytest

from nadsim._errors import InputError
from nadsim.library import apply_profile, build_full, build_nad_core
from nadsim.library.full import with_trial_arm
from nadsim.population import Variability, sample_population
from nadsim.population._variability import DEFAULT_CLASSES, STONE_PLACEBO_CLASSES, class_factors
from nadsim.simulate import simulate


@pytest.fixture(scope="module")
def full():
    return build_full()


def test_stone_classes_keep_the_mean_and_their_sources():
    """Stone 2022 BMJ (abstract, PubMed 35918097): components 16.0, 8.9, 1.7 points, 9.6 % of the
    placebo arm Large; 69 % Non-specific (secondary summary); Minimal by difference. Exact checks."""
    assert [mu for _, mu in STONE_PLACEBO_CLASSES] == [16.0, 8.9, 1.7]
    assert [w for w, _ in STONE_PLACEBO_CLASSES][:2] == [0.096, 0.69]
    assert sum(w for w, _ in STONE_PLACEBO_CLASSES) == pytest.approx(1.0, abs=1e-12)
    f = class_factors(STONE_PLACEBO_CLASSES)
    assert sum(w * x for w, x in f) == pytest.approx(1.0, abs=1e-12)  # the class draw keeps the mean
    assert [round(x, 2) for _, x in f] == [1.99, 1.11, 0.21]  # 16.0, 8.9, 1.7 over the mean 8.03


def test_patients_fall_into_classes_with_stone_shares(full):
    """20,000 patients: class shares within 4 binomial SE of 9.6/69/21.4 %; the population mean
    of f_pbo within 4 SE of 1 (the within-class log-normal has mean 1 too); the draw depends only
    on (seed, subject), so a subset gives the same rows."""
    n = 20_000
    pop = sample_population(n, model=full, seed=3)
    f = pop.params[:, pop.parameter_names.index("f_pbo")]
    large, minimal = f > 1.55, f < 0.5  # class factors 1.99 / 1.11 / 0.21 with a within-class CV of 0.15
    for share, got in ((0.096, large.mean()), (0.214, minimal.mean()), (0.69, 1 - large.mean() - minimal.mean())):
        assert abs(got - share) < 4 * np.sqrt(share * (1 - share) / n), (share, got)
    assert abs(f.mean() - 1.0) < 4 * f.std() / np.sqrt(n)
    sub = sample_population(model=full, seed=3, subjects=[5, 17_000, 42])
    assert np.array_equal(sub.params, pop.params[[5, 17_000, 42]])


def test_classes_can_be_switched_off_and_are_absent_from_nad_core(full):
    off = sample_population(4000, model=full, seed=3, variability=Variability(classes={}))
    f = off.params[:, off.parameter_names.index("f_pbo")]
    assert abs(np.std(f) / np.mean(f) - 0.15) < 0.01  # only the within-class CV remains (SE ~0.002)
    assert Variability().classes_for(build_nad_core()) == {}
    assert Variability().classes_for(full) == DEFAULT_CLASSES


def test_bad_classes_name_the_field(full):
    with pytest.raises(InputError, match=r"variability\.classes\.f_pbo"):
        Variability(classes={"f_pbo": ((0.5, 1.0), (0.4, 1.0))})  # shares sum to 0.9
    with pytest.raises(InputError, match=r"variability\.classes\.f_pbo"):
        Variability(classes={"f_pbo": ((1.0, -1.0),)})
    with pytest.raises(InputError, match=r"variability\.classes"):
        sample_population(3, model=build_nad_core(), variability=Variability(cv={}, classes={"f_pbo": ((1.0, 1.0),)}))


def test_f_pbo_scales_the_whole_placebo_arm_improvement(full):
    """A Large responder (f_pbo 2) improves by twice the natural course plus expectancy of a mean
    patient at HAM-D 22 (9.5 points by 8 weeks; below the baseline, so no clipping): rtol 1e-6."""
    m = with_trial_arm(apply_profile(full, hamd=22.0))
    t = np.array([0.0, 8 * 7 * 24.0])
    one, two = (simulate(m, None, t, parameters={"f_pbo": f}) for f in (1.0, 2.0))
    pts = [float(d["HAMD_course"].values[-1] + d["HAMD_placebo"].values[-1]) for d in (one, two)]
    assert pts[0] > 8.0
    assert pts[1] == pytest.approx(2 * pts[0], rel=1e-6)
