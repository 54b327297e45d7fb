"""JSON request rows -> raw text frames: the strings-only fast path and the per-column path agree."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from recsys.features.spec import load_dataset_config
from recsys.scoring.rows import RowError, json_rows_frame, json_rows_text, text_rows_frame

CFG = load_dataset_config("criteo")
AS_NUMBERS: list[dict[str, Any]] = [{"I1": 3, "I2": 7.0, "I5": 12, "C1": "68fd1e64", "C2": None},
                                    {"I1": -1, "C3": "a"}, {}]
AS_TEXT: list[dict[str, Any]] = [{"I1": "3", "I2": "7", "I5": "12", "C1": "68fd1e64", "C2": None},
                                 {"I1": "-1", "C3": "a"}, {}]


def test_text_values_and_numbers_give_the_same_frame() -> None:
    fast, slow = json_rows_text(AS_TEXT, CFG).frame, json_rows_text(AS_NUMBERS, CFG).frame
    assert fast.columns == list(CFG.columns) and set(fast.schema.values()) == {pl.String}
    assert fast.equals(slow)
    assert fast.row(0, named=True)["I2"] == "7"  # an integral float is written as a log holds it
    assert fast.row(2, named=True)["C1"] is None  # a missing field is null (scored through OOV)
    both, reasons = text_rows_frame(pl.concat([fast, slow]), CFG)  # requests of either kind batch together
    assert reasons == [None] * 6 and both.height == 6
    assert json_rows_frame(AS_TEXT, CFG).equals(json_rows_frame(AS_NUMBERS, CFG))


@pytest.mark.parametrize("rows, row, field", [
    ([{"C1": "a"}, {"C1": True}], 1, "C1"),           # a boolean among strings
    ([{"C1": "a"}, {"C9": "b", "X": "c"}], 1, "X"),   # an unknown field among strings
    ([{"C1": "a"}, {"C1": ["b"]}], 1, "C1"),          # a list among strings
    ([{"C1": "a"}, "C1=b"], 1, None),                 # a row that is not an object
])
def test_bad_rows_are_named_on_either_path(rows: list[Any], row: int, field: str | None) -> None:
    with pytest.raises(RowError) as err:
        json_rows_text(rows, CFG)
    assert (err.value.row, err.value.field) == (row, field)
