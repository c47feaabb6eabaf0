"""`make bench`: run every benchmark module in turn and print their tables."""

from __future__ import annotations

import importlib
import sys
import time

BENCHMARKS = [
    "benchmarks.bench_cutout",
    "benchmarks.bench_gallery",
    "benchmarks.bench_vision",
    "benchmarks.bench_trust",
    "benchmarks.bench_roles",
    "benchmarks.bench_scene_plates",
    "benchmarks.bench_agent",
    "benchmarks.bench_diffusion",
    "benchmarks.bench_batch",
]


def main() -> int:
    failed = []
    for name in BENCHMARKS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        code = module.main([]) if hasattr(module, "main") else 0
        print(f"({time.perf_counter() - started:.1f} s)", flush=True)
        if code:
            failed.append(name)
    if failed:
        print("benchmarks that missed a target or failed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
