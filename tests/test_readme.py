"""Every ```python block of README.md runs as written, each in its own fresh interpreter.

No hidden setup: a block runs with only what it defines itself. The one thing added is where
JAX keeps compiled programs (the suite's persistent cache, the suite's XLA flags and its strict
rank promotion, from what `conftest.py` sets), which changes no result. The myoLeg blocks
compile the MJX plant (about a minute each on 2 CPU cores when the cache is cold), so the
README keeps their sizes small.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import jax
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text: str) -> list[tuple[int, str]]:
    """`(line number, code)` of every ```python block (not the indented ones inside lists)."""
    return [(text[:found.start()].count("\n") + 1, found.group(1))
            for found in re.finditer(r"^```python\n(.*?)^```$", text, flags=re.S | re.M)]


BLOCKS = python_blocks(README.read_text())


def test_readme_has_python_blocks():
    assert len(BLOCKS) >= 3


#: Runs each block with a fresh, empty namespace, in order, in one interpreter: a block sees
#: nothing another block defined (no hidden setup), and the blocks share the interpreter's
#: compiled programs (the myoLeg blocks build the same model and batch shapes), which saves
#: minutes of compilation on 2 cores. Exit code 3 names the failing block on stderr.
RUNNER = """
import sys, traceback
for line, path in BLOCKS:
    code = open(path).read()
    try:
        exec(compile(code, f"README.md:{line}", "exec"), {"__name__": "__main__"})
    except BaseException:
        traceback.print_exc()
        print(f"FAILED BLOCK README.md:{line}", file=sys.stderr)
        sys.exit(3)
"""


@pytest.mark.slow
def test_readme_blocks_run_as_written(tmp_path):
    env = dict(os.environ)  # XLA_FLAGS from conftest.py
    # the suite's rank-promotion rule: stricter, and it makes the blocks' programs those of the
    # tests (the myoLeg rollout block's is test_myoleg.py's), found in the persistent cache
    env["JAX_NUMPY_RANK_PROMOTION"] = jax.config.jax_numpy_rank_promotion
    # This checkout's mskdiff, whatever is installed (the blocks run in tmp_path).
    env["PYTHONPATH"] = os.pathsep.join([str(README.parent), *filter(None, [env.get("PYTHONPATH")])])
    cache = jax.config.jax_compilation_cache_dir
    if cache:
        env["JAX_COMPILATION_CACHE_DIR"] = cache
        env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = str(
            jax.config.jax_persistent_cache_min_compile_time_secs)
    blocks = []
    for line, code in BLOCKS:
        path = tmp_path / f"readme_{line}.py"
        path.write_text(code)
        blocks.append((line, str(path)))
    runner = tmp_path / "run_blocks.py"
    runner.write_text(f"BLOCKS = {blocks!r}\n" + RUNNER)
    result = subprocess.run([sys.executable, "-W", "error::DeprecationWarning:mskdiff",
                             str(runner)], capture_output=True, text=True, cwd=tmp_path, env=env,
                            timeout=1200)
    assert result.returncode == 0, f"a README block failed\n--- stderr\n{result.stderr[-6000:]}"
