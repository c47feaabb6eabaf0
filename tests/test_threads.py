"""A worker's thread budget reaches every numeric library it uses (OpenCV, numba, onnxruntime)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, sys
from pipelines.threads import limit_threads, onnx_session_options
budget = int(sys.argv[1])
if budget:
    limit_threads(budget)
import cv2, numba, onnxruntime as ort
import pymatting  # noqa: F401  (its kernels run on numba's pool)
print(json.dumps({"cv2": cv2.getNumThreads(), "numba": numba.get_num_threads(),
                  "onnx": onnx_session_options(ort).intra_op_num_threads}))
"""


def _probe(budget: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("LISTING_STUDIO_THREADS", "NUMBA_NUM_THREADS",
                                                           "OMP_NUM_THREADS")}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-c", PROBE, str(budget)], env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_budget_of_one_thread_reaches_opencv_numba_and_onnxruntime():
    assert _probe(1) == {"cv2": 1, "numba": 1, "onnx": 1}


def test_without_a_budget_the_libraries_keep_their_defaults():
    seen = _probe(0)
    assert seen["onnx"] == 0  # onnxruntime's own default: one thread per core
    assert seen["numba"] == numba_default()


def numba_default() -> int:
    import numba

    return numba.config.NUMBA_NUM_THREADS


def test_the_local_executor_takes_the_budget_the_user_set(monkeypatch):
    from tools.batch_local import LocalExecutor

    monkeypatch.setenv("LISTING_STUDIO_THREADS", "1")
    assert LocalExecutor(1)._threads == 1
    monkeypatch.delenv("LISTING_STUDIO_THREADS")
    assert LocalExecutor(1)._threads == max(1, os.cpu_count() or 2)


def test_onnx_threads_sleep_instead_of_spinning_when_idle():
    import onnxruntime as ort

    from pipelines.threads import onnx_session_options

    options = onnx_session_options(ort)
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.get_session_config_entry("session.inter_op.allow_spinning") == "0"
