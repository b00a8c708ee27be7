"""Where the test suite's time goes: per test, wall time and XLA compile time (a pytest plugin).

    PYTHONPATH=benchmarks python -m pytest -n 2 --dist loadfile -p suite_compile
    python benchmarks/suite_compile.py --label "fast-compile flags" --out benchmarks/suite_compile_cpu.json

As a plugin (`-p suite_compile`), every pytest process (each xdist worker) listens to JAX's
monitoring events and writes `suite_compile_parts/<worker>.json`: per test, its wall time
(setup, call and teardown), the XLA backend compile time and count
(`/jax/core/compile/backend_compile_duration`), the tracing and lowering times
(`jaxpr_trace_duration`, `jaxpr_to_mlir_module_duration`) and the persistent-cache hits. Run as
a script, it sums the parts per file and per worker and appends the summary, with device info,
to `--out` (one entry per `--label`). `MSKDIFF_XLA_FAST_COMPILE=0` runs the suite without
`tests/conftest.py`'s compile flags, for the comparison.
"""

import argparse
import collections
import json
import os
from pathlib import Path

PARTS = Path(os.environ.get("SUITE_COMPILE_PARTS", "suite_compile_parts"))
_current = ["(outside tests)"]
_stats = collections.defaultdict(lambda: {"wall_s": 0.0, "compile_s": 0.0, "compiles": 0,
                                          "trace_s": 0.0, "lower_s": 0.0, "cache_hits": 0})
#: JAX's duration events -> the field they add to.
_DURATIONS = {"/jax/core/compile/backend_compile_duration": "compile_s",
              "/jax/core/compile/jaxpr_trace_duration": "trace_s",
              "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower_s"}


def _on_duration(event: str, seconds: float, **_) -> None:
    field = _DURATIONS.get(event)
    if field is None:
        return
    _stats[_current[0]][field] += seconds
    if field == "compile_s":
        _stats[_current[0]]["compiles"] += 1


def _on_event(event: str, **_) -> None:
    if event == "/jax/compilation_cache/cache_hits":
        _stats[_current[0]]["cache_hits"] += 1


def pytest_configure(config) -> None:
    import jax.monitoring

    jax.monitoring.register_event_duration_secs_listener(_on_duration)
    jax.monitoring.register_event_listener(_on_event)


def pytest_runtest_setup(item) -> None:
    _current[0] = item.nodeid


def pytest_runtest_logreport(report) -> None:
    _stats[report.nodeid]["wall_s"] += report.duration


def pytest_sessionfinish(session) -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None and hasattr(session.config, "workerinput"):
        worker = session.config.workerinput["workerid"]
    if worker is None and session.config.pluginmanager.hasplugin("dsession"):
        return  # the xdist controller runs no tests
    PARTS.mkdir(parents=True, exist_ok=True)
    (PARTS / f"{worker or 'main'}.json").write_text(json.dumps(_stats, indent=1))


def summarise(parts: Path) -> dict:
    """Per file and per worker: wall, compile, compiles, cache hits; the totals."""
    files = collections.defaultdict(collections.Counter)
    workers = collections.Counter()
    for path in sorted(parts.glob("*.json")):
        for test, entry in json.loads(path.read_text()).items():
            name = test.split("::")[0]
            files[name].update({k: v for k, v in entry.items()})
            workers[path.stem] += entry["wall_s"]
    totals = collections.Counter()
    for entry in files.values():
        totals.update({k: entry.get(k, 0.0) for k in ("wall_s", "compile_s", "trace_s", "lower_s")})
    ordered = sorted(files.items(), key=lambda item: -item[1]["wall_s"])
    return {"files": {name: dict(entry) for name, entry in ordered},
            "worker_wall_s": dict(workers), "test_seconds": totals["wall_s"],
            "compile_seconds": totals["compile_s"], "trace_seconds": totals["trace_s"],
            "lower_seconds": totals["lower_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default=str(PARTS))
    parser.add_argument("--label", required=True, help="what this run was (its flags)")
    parser.add_argument("--suite-wall-s", type=float, default=None,
                        help="the suite's wall time pytest printed")
    parser.add_argument("--out", default="suite_compile_cpu.json")
    args = parser.parse_args()
    from device import device_info

    out = Path(args.out)
    record = json.loads(out.read_text()) if out.is_file() else {"runs": {}}
    record["device"] = device_info()
    summary = summarise(Path(args.parts))
    record["runs"][args.label] = {"suite_wall_s": args.suite_wall_s, **summary}
    out.write_text(json.dumps(record, indent=1))
    print(f"{args.label}: {summary['test_seconds']:.0f} test-seconds, of which XLA compile "
          f"{summary['compile_seconds']:.0f} s; suite wall {args.suite_wall_s} s")


if __name__ == "__main__":
    main()
