"""Examples run end to end (smoke tests)."""

import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.slow
@pytest.mark.x64
def test_compare_opensim_example(reference_dir, tmp_path):
    module = runpy.run_path(str(EXAMPLES / "compare_opensim.py"))
    path = module["main"]("dgf_tibant_r_compliant_sine", tmp_path)
    assert path.stat().st_size > 20_000


@pytest.mark.x64
def test_metabolics_example(reference_dir, tmp_path):
    module = runpy.run_path(str(EXAMPLES / "metabolics_vs_opensim.py"))
    path, errors = module["main"]("dgf_gasmed_r_ramps", tmp_path)
    assert path.stat().st_size > 20_000
    assert max(errors.values()) <= 1e-6
