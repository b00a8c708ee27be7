"""Shared test set-up: strict dtypes, per-test float64 (`@pytest.mark.x64`), reference data."""

import gc
import os
from pathlib import Path

# The suite is bound by XLA compile time (MJX programs of 10-100 s each on 2 cores), not run
# time: LLVM's -O0 compiles the MJX step ~30 % faster and runs it ~4x slower, a net gain here.
# XLA:CPU's MLIR fusion emitters off and one LLVM module per program (no parallel codegen
# split) cut the compile further: a tiny-leg rollout gradient compiled in 15-17 s against
# 24-29 s, and tests/test_gradients.py with tests/test_plant_gradients.py took 81 s against
# 126 s (-n 2, empty caches, back to back); runs are ~25 % slower. The flags change code
# generation only. They must be set before JAX creates its CPU client; a user's own XLA_FLAGS
# are kept (later flags win), MSKDIFF_XLA_OPT picks another level and MSKDIFF_XLA_FAST_COMPILE=0
# drops the two compile flags (to compare).
FAST_COMPILE = ("--xla_cpu_use_fusion_emitters=false", "--xla_cpu_parallel_codegen_split_count=1")
os.environ["XLA_FLAGS"] = " ".join(
    [f"--xla_backend_optimization_level={os.environ.get('MSKDIFF_XLA_OPT', '0')}",
     *(FAST_COMPILE if os.environ.get("MSKDIFF_XLA_FAST_COMPILE", "1") != "0" else ()),
     os.environ.get("XLA_FLAGS", "")]).strip()

import jax  # noqa: E402
import jax.random as jr  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_compilation_cache_dir",
                  os.environ.get("MSKDIFF_JAX_CACHE", str(Path.home() / ".cache" / "mskdiff-jax")))
# Every program goes to the persistent cache, the small ones of eager op-by-op dispatch too: each
# test file frees its compiled programs (below), and the next file loads the ones it shares from
# disk instead of compiling them again. MSKDIFF_CACHE_MIN_S sets another threshold.
jax.config.update("jax_persistent_cache_min_compile_time_secs",
                  float(os.environ.get("MSKDIFF_CACHE_MIN_S", "0")))

#: `../shared/reference` beside the repository (CI has it there); override with MSKDIFF_REFERENCE.
REFERENCE_DIR = Path(os.environ.get(
    "MSKDIFF_REFERENCE", Path(__file__).resolve().parents[1].parent / "shared" / "reference"))
#: `../shared/data/rajagopal2016/Rajagopal2016.osim` beside the repository.
RAJAGOPAL_OSIM = REFERENCE_DIR.parent / "data" / "rajagopal2016" / "Rajagopal2016.osim"


#: Linux's default `vm.max_map_count`; a larger limit does not raise the release threshold
#: (the programs kept also hold memory).
DEFAULT_MAX_MAP_COUNT = 65_530


def _memory_maps() -> tuple[int, int] | None:
    """This process's memory maps and Linux's limit on them; None where /proc has neither."""
    try:
        used = Path("/proc/self/maps").read_text().count("\n")
        return used, int(Path("/proc/sys/vm/max_map_count").read_text())
    except (OSError, ValueError):
        return None


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Free the compiled programs when a test file ends with the process's memory maps past
    half of Linux's limit (at most half the default limit; always, where /proc does not say).

    XLA:CPU maps every kernel of a program into memory separately: myoLeg's gradient program
    alone takes ~15,000 of Linux's default 65,530 memory maps per process (`vm.max_map_count`),
    and one process running the whole suite ran out of them and crashed. Below half, the next
    files reuse the programs and traces they share (the tiny models' init, step and rollout)
    without tracing them again; after a release they come back from the persistent cache.
    """
    yield
    maps = _memory_maps()
    if maps is None or maps[0] > min(maps[1], DEFAULT_MAX_MAP_COUNT) // 2:
        jax.clear_caches()
        gc.collect()


@pytest.fixture(autouse=True)
def _x64(request):
    if request.node.get_closest_marker("x64") is None:
        yield
        return
    with jax.enable_x64(True):
        yield


@pytest.fixture
def reference_dir() -> Path:
    if not REFERENCE_DIR.is_dir():
        pytest.skip(f"OpenSim reference data not found at {REFERENCE_DIR} "
                    "(set MSKDIFF_REFERENCE to its folder)")
    return REFERENCE_DIR


@pytest.fixture
def rajagopal_osim() -> Path:
    if not RAJAGOPAL_OSIM.is_file():
        pytest.skip(f"Rajagopal2016.osim not found at {RAJAGOPAL_OSIM}")
    return RAJAGOPAL_OSIM


@pytest.fixture
def getkey():
    keys = iter(jr.split(jr.key(0), 10_000))
    return lambda: next(keys)


#: The slowest files (MJX compiles), longest first (as measured in the last run recorded in
#: `benchmarks/suite_compile_cpu.json`). With `--dist loadfile` (and xdist's reordering
#: by test count switched off in `pytest_configure`) files go to the workers in collection order,
#: so starting with these keeps one worker from finishing minutes after the other
#: (longest-processing-time-first scheduling).
SLOWEST_FILES = ("test_rl_train.py", "test_identify.py", "test_rl_env.py",
                 "test_myoleg_gradients.py", "test_myolegs26.py", "test_trajectory.py",
                 "test_plant.py", "test_rl_apg.py", "test_readme.py", "test_rl_ppo.py",
                 "test_validation.py", "test_gradients.py", "test_millard_equilibrium.py",
                 "test_plant_randomize.py", "test_millard_curves.py", "test_plant_gradients.py",
                 "test_models_registry.py", "test_myoleg.py", "test_fit_outcomes.py",
                 "test_rl_gymnasium.py", "test_mtu.py", "test_muscle_solves.py",
                 "test_reference_curve_changes.py", "test_mujoco_conversion.py",
                 "test_kinematics.py", "test_render.py")


def pytest_configure(config):
    if hasattr(config.option, "loadscopereorder"):  # pytest-xdist: keep the collection order
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(items):
    rank = {name: k for k, name in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOWEST_FILES)))
