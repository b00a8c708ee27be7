"""The package's layer order, read from the import statements of every module.

muscle <- integrate <- plant <- models <- solvers/rl <- validation <- cli: a module imports its
own part and lower layers only. `_checks`, `_solution` and `_quiet` are the bottom; `io` sits beside
`muscle` (it may import `muscle`, nothing else of mskdiff); nothing imports `cli`; parts on
the same layer (`io`/`integrate`, `solvers`/`rl`) do not import each other.
"""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mskdiff"

#: Layer of each part of mskdiff (a subpackage or a root module).
LAYERS = {"_checks": 0, "_solution": 0, "_quiet": 0, "muscle": 1, "io": 2, "integrate": 2, "plant": 3,
          "models": 4, "viz": 4.5, "solvers": 5, "rl": 5, "validation": 6, "cli": 7}
#: Third-party packages the core install has (pyproject `dependencies`), as imported.
CORE_PACKAGES = {"jax", "jaxlib", "equinox", "diffrax", "optimistix", "optax", "jaxopt",
                 "jaxtyping", "numpy", "matplotlib", "tqdm", "mujoco", "myo_sim", "scipy"}


def _module_name(path: Path) -> list[str]:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imported_modules(path: Path, *, top_level_only=False):
    """(line, absolute dotted module) of every import in `path` (nested ones too)."""
    tree = ast.parse(path.read_text())
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path)[:-1]
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            target = base + (node.module.split(".") if node.module else [])
            if target == ["mskdiff"]:  # `from .. import muscle`: the names are parts
                for alias in node.names:
                    yield node.lineno, ["mskdiff", alias.name]
            else:
                yield node.lineno, target


def _part(module: list[str]) -> str | None:
    """The mskdiff part a module belongs to, or None outside mskdiff or at its root."""
    if module[0] != "mskdiff" or len(module) < 2:
        return None
    return module[1]


def test_every_part_has_a_layer():
    parts = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.is_dir() and (p / "__init__.py").exists())
             or (p.suffix == ".py" and p.stem not in ("__init__", "__main__"))}
    assert parts <= set(LAYERS), f"give {sorted(parts - set(LAYERS))} a layer in LAYERS"


def test_imports_point_down_the_layers():
    violations = []
    for path in sorted(PACKAGE.rglob("*.py")):
        own = None if path.name in ("__init__.py", "__main__.py") and path.parent == PACKAGE \
            else _part(_module_name(path))
        for line, module in _imported_modules(path):
            target = _part(module)
            if target is None or target == own or target not in LAYERS:
                continue
            where = f"{path.relative_to(PACKAGE.parent)}:{line} imports mskdiff.{target}"
            if own is None:  # the root: `__init__` re-exports, `__main__` runs the cli
                if path.name == "__init__.py" and target == "cli":
                    violations.append(f"{where} (nothing below the cli imports it)")
            elif LAYERS[target] >= LAYERS[own]:
                violations.append(f"{where} (layer {LAYERS[target]} from layer {LAYERS[own]})")
    assert not violations, "imports against the layer order:\n" + "\n".join(violations)


#: Modules that exist for an optional package, which their package imports only when it is there.
EXTRA_MODULES = {"rl/gymnasium.py": {"gymnasium"}}


@pytest.mark.parametrize("part", ["rl", "viz"])
def test_importing_needs_no_optional_package(part):
    """`import mskdiff.rl` works on a core install: its module-level imports are the standard
    library, core dependencies or mskdiff (optional packages go inside functions, or in a module
    of `EXTRA_MODULES` that is imported only when its package is installed)."""
    optional = []
    for path in sorted((PACKAGE / part).rglob("*.py")):
        allowed = EXTRA_MODULES.get(str(path.relative_to(PACKAGE)), set())
        for line, module in _imported_modules(path, top_level_only=True):
            top = module[0] if module else "mskdiff"
            if top not in sys.stdlib_module_names | CORE_PACKAGES | {"mskdiff"} | allowed:
                optional.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {top}")
    assert not optional, "\n".join(optional)


def test_mskdiff_rl_imports_with_the_rl_extra_blocked():
    """`import mskdiff.rl` in a process where Gymnasium, Brax and Playground cannot be imported."""
    blocked = ("gymnasium", "brax", "mujoco_playground")
    code = ("import sys\n"
            "class Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            f"        if name.split('.')[0] in {blocked!r}:\n"
            "            raise ImportError(f'blocked: {name}')\n"
            "sys.meta_path.insert(0, Block())\n"
            "import mskdiff.rl\n"
            "assert 'gymnasium' not in sys.modules\n"
            "print(mskdiff.rl.TASKS)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert result.returncode == 0, result.stderr
    assert "stand" in result.stdout
