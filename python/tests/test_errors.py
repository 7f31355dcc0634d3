"""Errors: Python exceptions with file, line and column; bad rows fail their account."""

import pandas as pd
import pytest

import exfee


def test_missing_drop_raises_with_the_file(tmp_path):
    with pytest.raises(exfee.InputError) as caught:
        exfee.read_drop(tmp_path / "nowhere")
    assert caught.value.file.endswith("fx.csv") or "nowhere" in caught.value.file
    assert isinstance(caught.value, exfee.ExfeeError)


def test_missing_column_names_file_line_and_column():
    accounts = pd.DataFrame({"account": ["A"], "base_currency": ["USD"]})
    positions = pd.DataFrame({"account": ["A"], "symbol": ["X"], "asset_class": ["STK"],
                              "currency": ["USD"], "quantity": [1]})
    fx = pd.DataFrame({"currency": ["USD"], "usd_per_unit": [1]})
    with pytest.raises(exfee.InputError) as caught:
        exfee.batch_from_frames(accounts, positions, fx=fx)
    error = caught.value
    assert (error.file, error.line, error.column) == ("<positions>", 1, "mark")


def test_bad_row_fails_its_account_with_line_and_column():
    accounts = pd.DataFrame({"account": ["A", "B"], "base_currency": ["USD", "USD"]})
    positions = pd.DataFrame({"account": ["A", "B"], "symbol": ["X", "Y"], "asset_class": ["STK", "STK"],
                              "currency": ["USD", "USD"], "quantity": [1, 2], "mark": ["10", "-3.5"]})
    fx = pd.DataFrame({"currency": ["USD"], "usd_per_unit": [1]})
    table = exfee.evaluate(exfee.batch_from_frames(accounts, positions, fx=fx), date="2026-11-20",
                           scenario_set="fixed").to_pylist()
    by_id = {r["account"]: r for r in table}
    assert by_id["A"]["status"] == "ok"
    assert by_id["B"]["status"] == "failed"
    # Row 2 of the frame is line 3 of the CSV it stands for; mark is column 6.
    assert "<positions> line 3 column 6 (mark)" in by_id["B"]["error"]
    assert by_id["B"]["nlv"] is None


def test_bad_date_and_unknown_account(nightly):
    batch = exfee.read_drop(nightly)
    with pytest.raises(exfee.InputError):
        exfee.evaluate(batch, date="20-11-2026")
    ev = exfee.evaluation(batch, date="2026-11-20", scenario_set="fixed")
    with pytest.raises(exfee.ExfeeError, match="no account NOPE"):
        ev.pnl("NOPE")
    with pytest.raises(TypeError):
        exfee.evaluate(batch, date="2026-11-20", scenario_set=42)
