"""Keep native libraries' start-up chatter off the user's terminal.

TensorFlow prints several lines on import (CPU features, oneDNN, "could not find
CUDA drivers") straight to file descriptor 2, before its own log level applies,
and FFmpeg warns there about container tags; later TensorFlow logs warnings
about its own internals (tf.function retracing). None of it is actionable for a
user, so commands import TensorFlow through `quiet_tensorflow()` below; `--verbose`
keeps everything.
"""

from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager


@contextmanager
def native_stderr_silenced():
    """Silence what C libraries print on file descriptor 2 (Python's own stderr is untouched)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def quiet_tensorflow(verbose: bool = False) -> None:
    """Import TensorFlow now, without its native log lines unless `verbose`.
    Python errors (a broken install) still raise as usual."""
    if "tensorflow" in sys.modules or verbose:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with native_stderr_silenced():
        import tensorflow
    # Its Python-side warnings too, e.g. "5 out of the last 5 calls ... triggered
    # tf.function retracing" once several phases' models have predicted in one run.
    tensorflow.get_logger().setLevel(logging.ERROR)
