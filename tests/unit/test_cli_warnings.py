"""The CLI silences the libraries' own deprecation notices, not every warning, and exits quickly."""

from __future__ import annotations

import gc
import subprocess
import sys
import warnings
from pathlib import Path

from pipelines.cli import main, quiet_warnings


def test_library_deprecations_are_silenced_and_other_warnings_show() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_warnings()
        warnings.warn_explicit("old API", DeprecationWarning, "x.py", 1, module="torchrec.optim.x")
        warnings.warn_explicit("old API", FutureWarning, "x.py", 1, module="fbgemm_gpu")
        warnings.warn_explicit("Please use DTensor instead and ...", FutureWarning, "c.py", 1, module="recsys.training")
        warnings.warn_explicit("your data looks odd", UserWarning, "y.py", 1, module="recsys.data")
        warnings.warn_explicit("old API", DeprecationWarning, "z.py", 1, module="torchrecx")
    assert [str(w.message) for w in caught] == ["your data looks odd", "old API"]


def test_only_a_command_freezes_its_objects_for_a_quick_exit(tmp_path: Path) -> None:
    """``gc.freeze()`` at the end is for a process about to exit; a caller's own process (tests,
    notebooks calling ``main([...])``) keeps collecting its garbage."""
    before = gc.get_freeze_count()
    assert main(["score", str(tmp_path / "no-bundle"), str(tmp_path / "none.tsv"), "--format", "criteo",
                 "--out", str(tmp_path / "s.parquet")]) == 2
    assert gc.get_freeze_count() == before
    code = ("import gc, sys; from pipelines.cli import main; sys.argv = ['recsys', 'score', 'nb', 'x.tsv', "
            "'--format', 'criteo', '--out', 's.parquet']; rc = main(); print(rc, gc.get_freeze_count() > 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert out.stdout.split() == ["2", "True"]
