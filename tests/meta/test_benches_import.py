"""Every benchmark still imports: a bench that rots (a renamed name it borrowed) is found by
the suite, not by the next person who runs ./dev bench."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize("script", sorted(p.name for p in BENCH.glob("*.py")))
def test_the_bench_imports(script: str) -> None:
    # as ./dev bench runs it: python bench/x.py puts bench/ first on the path
    code = (f"import sys, runpy; sys.path[:0] = [{str(BENCH)!r}, {str(BENCH.parent)!r}];"
            f" runpy.run_path({str(BENCH / script)!r}, run_name='not_main')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
