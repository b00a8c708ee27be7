"""Silence JAX's warning about `os.fork` for children that run another program at once."""

import contextlib
import warnings
from collections.abc import Iterator


@contextlib.contextmanager
def exec_fork_warning_ignored() -> Iterator[None]:
    """Drop JAX's "os.fork() was called" `RuntimeWarning` inside the block.

    JAX warns on every fork once its backend is up, because a forked copy of a multithreaded
    process may deadlock. A child that immediately runs another program (`subprocess`: the GL
    probe, imageio-ffmpeg's ffmpeg) runs none of that copied code, so the warning does not apply.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called",
                                category=RuntimeWarning)
        yield
