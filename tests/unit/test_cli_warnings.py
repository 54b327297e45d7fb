"""The CLI silences the libraries' own deprecation notices, not every warning."""

from __future__ import annotations

import warnings

from pipelines.cli import quiet_warnings


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
