"""The chunk a trial's worker simulates: the worker's imports stay below the trial package."""

import subprocess
import sys

import pytest

from nadsim._errors import InputError
from nadsim.population import CovariateModel, Uncertainty, Variability
from nadsim.population._chunks import ChunkJob, simulate_chunk


def test_a_worker_imports_no_analysis_stack():
    """What a spawned trial worker imports to unpickle its job: no trial package, statsmodels,
    matplotlib or calibration (they cost a worker 1.3 s more CPU at start, benchmarks/RESULTS.md)."""
    code = ("import sys, nadsim.population._chunks; "
            "print(sorted({m.split('.')[0] if not m.startswith('nadsim.') else '.'.join(m.split('.')[:2]) "
            "for m in sys.modules if m.startswith(('nadsim.trial', 'nadsim.calibration', 'statsmodels', "
            "'matplotlib'))}))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


def test_draw_values_come_exactly_with_a_draw(tmp_path):
    job = ChunkJob(chunk_id="draw0000-00000", out_dir=str(tmp_path), relpath="chunks/x.parquet", model="nad_core",
                   arm_entry=None, seed=1, subjects=(0, 1), covariates=CovariateModel(), variability=Variability(cv={}),
                   uncertainty=Uncertainty(), arms=(("placebo", None),), times=(0.0, 24.0), outputs=("whole_blood_NAD",),
                   solver={"backend": "native", "device": "cpu", "rtol": 1e-6, "atol": 1e-9}, draw=0)
    with pytest.raises(InputError, match="draw"):
        simulate_chunk(job)
    assert not (tmp_path / "chunks").exists()
