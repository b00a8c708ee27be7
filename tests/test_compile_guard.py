"""Repeated calls with new values of the same shapes reuse the compiled programs.

Counts JAX's tracing and lowering events (`jax.monitoring`) while `rollout` and
`plant.step` run on the tiny leg with new excitations, states and muscle parameters: any
trace or lowering after the first calls is a recompilation, and fails the test.
"""

import contextlib

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from test_plant import crouch_qpos, tiny_plant

from mskdiff.plant import rollout

#: JAX's events for tracing a function to a jaxpr and lowering it for compilation.
COMPILE_EVENTS = ("/jax/core/compile/jaxpr_trace_duration",
                  "/jax/core/compile/jaxpr_to_mlir_module_duration")


@contextlib.contextmanager
def count_compilations():
    """Yields a list that collects the trace and lowering events raised inside the block."""
    events = []
    listener = lambda event, duration, **kwargs: events.append(event) if event in COMPILE_EVENTS else None
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield events
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def test_rollout_and_step_compile_once_for_new_values_of_the_same_shapes():
    """25 steps, 4 sub-steps, no checkpointing: the program `test_plant.py` compiles."""
    plant = tiny_plant()
    states = [plant.init(crouch_qpos(hip, knee), activation=a)
              for hip, knee, a in ((0.3, 0.6, 0.1), (0.2, 0.5, 0.3), (0.4, 0.9, 0.05))]
    stronger = eqx.tree_at(lambda p: p.mtu.params.max_isometric_force, plant,
                           plant.mtu.params.max_isometric_force * 1.2)
    runs = [(plant, states[0], 0.7), (plant, states[1], 0.2), (stronger, states[2], 0.5)]
    run = lambda p, s, level: rollout(p, s, jnp.full((25, 4), level), checkpoint=False)
    step = lambda p, s, level: p.step(s, jnp.full(4, level))
    jax.block_until_ready((run(*runs[0]), step(*runs[0])))  # the first calls compile
    with count_compilations() as events:
        for args in runs[1:]:
            final, trajectory = jax.block_until_ready(run(*args))
            jax.block_until_ready(step(*args))
    assert not events, f"recompiled: {events}"
    np.testing.assert_array_equal(trajectory.nonfinite_step, -1)
    assert float(final.data.time) > 0
