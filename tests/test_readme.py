"""Every ```python block of README.md runs as written, each in its own fresh interpreter.

No hidden setup: a block runs with only what it defines itself. The one thing added is where
JAX keeps compiled programs (the suite's persistent cache, and the suite's XLA flags, from the
environment `conftest.py` sets), which changes no result. The myoLeg blocks compile the MJX
plant (about a minute each on 2 CPU cores when the cache is cold), so the README keeps their
sizes small.
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


@pytest.mark.slow
@pytest.mark.parametrize(("line", "code"), BLOCKS, ids=[f"README.md:{line}" for line, _ in BLOCKS])
def test_readme_block_runs_as_written(line, code, tmp_path):
    env = dict(os.environ)  # XLA_FLAGS from conftest.py
    # This checkout's mskdiff, whatever is installed (the block runs in tmp_path).
    env["PYTHONPATH"] = os.pathsep.join([str(README.parent), *filter(None, [env.get("PYTHONPATH")])])
    cache = jax.config.jax_compilation_cache_dir
    if cache:
        env["JAX_COMPILATION_CACHE_DIR"] = cache
        env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "1"
    script = tmp_path / f"readme_{line}.py"
    script.write_text(code)
    result = subprocess.run([sys.executable, "-W", "error::DeprecationWarning:mskdiff",
                             str(script)], capture_output=True, text=True, cwd=tmp_path, env=env,
                            timeout=900)
    assert result.returncode == 0, (
        f"README.md line {line}: the block failed\n--- code\n{code}\n--- stderr\n"
        f"{result.stderr[-4000:]}")
