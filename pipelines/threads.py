"""How many threads this process's numeric libraries may use.

A batch worker is given a share of the machine's cores (a Ray task: its `num_cpus`; a local worker: the
cores divided by the workers). OpenCV, BLAS, numba (pymatting's kernels) and onnxruntime (the segmenter,
the text detector) each start their own thread pool sized to the whole machine unless told otherwise,
so two workers would each run a pool per library on the same two cores and get in each other's way.
`limit_threads` tells all of them; `onnx_session_options` applies the same budget to new ONNX sessions.
"""

from __future__ import annotations

import os
import sys

BUDGET_VAR = "LISTING_STUDIO_THREADS"  # set by limit_threads; unset means each library's own default
_POOL_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def thread_budget() -> int:
    """The threads this process may use, or 0 when no budget was set."""
    try:
        return max(0, int(os.environ.get(BUDGET_VAR, "0")))
    except ValueError:
        return 0


def limit_threads(threads: int) -> None:
    """Give this process `threads` threads for all its numeric libraries; best called before they load."""
    threads = max(1, int(threads))
    os.environ[BUDGET_VAR] = str(threads)
    for var in _POOL_VARS:
        os.environ[var] = str(threads)
    import cv2  # OpenCV keeps its own pool and ignores the variables above

    cv2.setNumThreads(threads)
    if "numba" in sys.modules:  # already loaded: its pool size is fixed, but the threads it uses are not
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def onnx_session_options(ort):
    """SessionOptions for onnxruntime that respect the thread budget (and keep its log quiet). Its idle
    threads sleep instead of spinning: on a machine whose few cores are shared, spinning burns CPU time
    that the other workers (and the matting around the model) need."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    budget = thread_budget()
    if budget:
        options.intra_op_num_threads = budget
        options.inter_op_num_threads = 1
    return options
