"""exfee.evaluate against `exfee run`, and against figures worked out by hand."""

import csv
import decimal
import threading
import time
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import exfee
from conftest import run_cli


def cell_value(kind, cell):
    """A results.csv cell as the table types it (the oracle: the CSV text)."""
    if cell == "":
        return None
    if kind == "decimal":
        return decimal.Decimal(cell)
    if kind == "int":
        return int(cell)
    if kind == "date":
        return date.fromisoformat(cell)
    return cell


def test_evaluate_equals_exfee_run_cell_by_cell(tmp_path, exfee_bin, nightly):
    out = tmp_path / "out"
    done = run_cli(exfee_bin, "run", nightly, "--date", "2026-11-20", "--out", out, "--no-reports")
    assert done.returncode in (0, 1), done.stderr
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]

    table = exfee.evaluate(exfee.read_drop(nightly), date="2026-11-20")
    assert isinstance(table, pa.Table)
    assert table.num_rows == len(rows) > 50
    for name in header:
        assert name in table.column_names, name
    for index, name in enumerate(header):
        kind = exfee.RESULT_TYPES.get(name, "text")
        got = table.column(name).to_pylist()
        want = [cell_value(kind, row[index]) for row in rows]
        if kind == "text":
            # The CSV writer prefixes formula-like text with ' ; the nightly
            # example has none, so the cells are the values.
            got = ["" if v is None else v for v in got]
            want = ["" if v is None else v for v in want]
        assert got == want, name
    # Decimal columns keep the exact text as well (no float on the way).
    nlv_text = [str(v) for v in table.column("nlv").to_pylist()]
    assert nlv_text == [row[header.index("nlv")] for row in rows]
    # pandas, as the contract shows it.
    frame = table.to_pandas()
    assert list(frame["account"]) == [row[0] for row in rows]


def one_short_stock():
    """One USD account: 120,000 cash, short 200 ZZZ at 500 (an unmapped
    single stock, moved ±50 % by the fixed set). NLV = 120,000 − 100,000 =
    20,000; the worst scenario is ZZZ +50 %: a loss of 200 × 250 = 50,000,
    so 30,000 is uncovered under the default 'worst' measure."""
    accounts = pd.DataFrame({"account": ["S1"], "base_currency": ["USD"]})
    positions = pd.DataFrame(
        {"account": ["S1"], "symbol": ["ZZZ"], "asset_class": ["STK"], "currency": ["USD"],
         "quantity": [-200], "mark": ["500"]}
    )
    cash = pd.DataFrame({"account": ["S1"], "currency": ["USD"], "amount": ["120000"]})
    fx = pd.DataFrame({"currency": ["USD"], "usd_per_unit": [1]})
    return accounts, positions, cash, fx


def test_figures_by_hand_from_dataframes():
    accounts, positions, cash, fx = one_short_stock()
    batch = exfee.batch_from_frames(accounts, positions, cash, fx=fx)
    assert batch.accounts == ["S1"]
    ev = exfee.evaluation(batch, date="2026-11-20", scenario_set="fixed")
    row = ev.table().to_pylist()[0]
    assert row["nlv"] == decimal.Decimal("20000")
    assert row["worst_loss"] == decimal.Decimal("50000")
    assert row["worst_scenario"] == "ZZZ@+50%"
    assert row["measure"] == decimal.Decimal("50000")
    assert row["uncovered"] == decimal.Decimal("30000")
    assert row["status"] == "uncovered"
    pnl = ev.pnl("S1")
    assert pnl.dtype == np.float64 and pnl.shape == (ev.scenario_count,)
    names = ev.scenario_names()
    assert pnl[names.index("ZZZ@+50%")] == -50_000.0
    assert pnl[names.index("ZZZ@-50%")] == 50_000.0
    # The NumPy array is a view of the engine's buffer, not a copy of it.
    assert not pnl.flags.owndata
    assessment = ev.assessment("S1")
    assert assessment["uncovered"] == "30000.00"


def test_arrow_tables_give_the_same_batch():
    frames = one_short_stock()
    from_pandas = exfee.evaluate(exfee.batch_from_frames(*frames[:3], fx=frames[3]), date="2026-11-20", scenario_set="fixed")
    arrow = [pa.Table.from_pandas(f, preserve_index=False) for f in frames]
    from_arrow = exfee.evaluate(exfee.batch_from_frames(*arrow[:3], fx=arrow[3]), date="2026-11-20", scenario_set="fixed")
    assert from_pandas.equals(from_arrow)


def test_pnl_matrix_rows_are_the_accounts_pnl(nightly):
    ev = exfee.evaluation(exfee.read_drop(nightly), date="2026-11-20", draws=300, seed=7)
    accounts = exfee.read_drop(nightly).accounts[:3]
    matrix = ev.pnl_matrix(accounts)
    assert matrix.shape == (3, ev.scenario_count)
    table = ev.table().to_pylist()
    for i, account in enumerate(accounts):
        assert np.array_equal(matrix[i], ev.pnl(account))
        row = next(r for r in table if r["account"] == account)
        if row["status"] != "failed":
            # The worst loss is the largest scenario loss, to cents.
            worst = decimal.Decimal(repr(float(-matrix[i].min()))).quantize(decimal.Decimal("0.01"))
            assert abs(worst - row["worst_loss"]) <= decimal.Decimal("0.01")


def test_seed_and_draws_reproducible_and_effective(nightly):
    batch = exfee.read_drop(nightly)
    a = exfee.evaluation(batch, date="2026-11-20", draws=200, seed=1)
    b = exfee.evaluation(batch, date="2026-11-20", draws=200, seed=1)
    c = exfee.evaluation(batch, date="2026-11-20", draws=200, seed=2)
    assert a.table().equals(b.table())
    more = exfee.evaluation(batch, date="2026-11-20", draws=300, seed=1)
    assert more.scenario_count - a.scenario_count == 100
    account = batch.accounts[0]
    assert np.array_equal(a.pnl(account), b.pnl(account))
    assert not np.array_equal(a.pnl(account), c.pnl(account))


def test_scenario_set_as_dict(nightly):
    config = {
        "factor_table": "risk-factors-current.csv",
        "fx_table": "fx-factors-current.csv",
        "correlation": "correlation-default.csv",
        "scenarios": 150,
        "seed": 3,
    }
    batch = exfee.read_drop(nightly)
    ev = exfee.evaluation(batch, date="2026-11-20", scenario_set=config)
    by_args = exfee.evaluation(batch, date="2026-11-20", draws=150, seed=3)
    assert ev.scenario_count == by_args.scenario_count


def test_gil_is_released_while_the_engine_runs(nightly):
    batch = exfee.read_drop(nightly)
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    thread = threading.Thread(target=tick)
    thread.start()
    try:
        start = time.perf_counter()
        exfee.evaluation(batch, date="2026-11-20")  # the default 10,000 draws
        end = time.perf_counter()
    finally:
        stop.set()
        thread.join()
    during = [t for t in ticks if start < t < end]
    # With the GIL held for the whole evaluation, the other thread could not
    # run at all in between.
    assert end - start > 0.05
    assert len(during) >= 5


def test_what_if_by_hand():
    """Buying back 100 of the 200 ZZZ short at the mark (500): cash 120,000 −
    50,000 = 70,000, short 100 × 500 = −50,000, NLV still 20,000; the worst
    scenario (ZZZ +50 %) now loses 100 × 250 = 25,000: 5,000 uncovered."""
    accounts, positions, cash, fx = one_short_stock()
    ev = exfee.evaluation(exfee.batch_from_frames(accounts, positions, cash, fx=fx),
                          date="2026-11-20", scenario_set="fixed")
    answer = ev.what_if("S1", [{"symbol": "ZZZ", "asset_class": "STK", "currency": "USD", "quantity": 100}])
    assert answer["account"] == "S1" and answer["currency"] == "USD"
    assert decimal.Decimal(answer["before"]["measure"]) == 50_000
    assert decimal.Decimal(answer["before"]["uncovered"]) == 30_000
    assert decimal.Decimal(answer["after"]["nlv"]) == 20_000
    assert decimal.Decimal(answer["after"]["measure"]) == 25_000
    assert decimal.Decimal(answer["after"]["uncovered"]) == 5_000
    assert answer["before"]["worst_scenario"] == answer["after"]["worst_scenario"] == "ZZZ@+50%"
    for side in ("before", "after"):
        # One holding: the whole daily fee is its class's.
        fees = [decimal.Decimal(v) for v in answer[side]["by_class"].values()]
        assert fees == [decimal.Decimal(answer[side]["daily_fee"])]
    assert decimal.Decimal(answer["change"]) == (
        decimal.Decimal(answer["after"]["daily_fee"]) - decimal.Decimal(answer["before"]["daily_fee"])
    )
    # The same order as a DataFrame gives the same answer.
    frame = pd.DataFrame([{"symbol": "ZZZ", "asset_class": "STK", "currency": "USD", "quantity": 100}])
    assert ev.what_if("S1", frame) == answer
    with pytest.raises(exfee.InputError, match="order 1 field quantity"):
        ev.what_if("S1", [{"symbol": "ZZZ", "asset_class": "STK", "currency": "USD", "quantity": "lots"}])


def test_what_if_before_is_tonights_row_and_after_a_re_evaluation(nightly):
    """The what-if fast path (shared by Rust, Python and the service) under a
    Monte Carlo set with a horizon: `before` is the account's row of the
    evaluation, and `after` an order equals evaluating the drop with the
    order written into it (positions.csv and cash.csv rows: the oracle)."""
    kwargs = dict(date="2026-11-20", horizon_days=3, draws=300)
    ev = exfee.evaluation(exfee.read_drop(nightly), **kwargs)
    rows = {r["account"]: r for r in ev.table().to_pylist()}
    asked = [a for a, r in rows.items() if r["status"] != "failed"][::15]
    assert len(asked) >= 4
    for account in asked:
        order = {"symbol": "AAPL 270115P230", "asset_class": "OPT", "currency": "USD", "quantity": -2,
                 "price": "9.05", "multiplier": 100, "underlying": "AAPL", "strike": "230",
                 "expiry": "2027-01-15", "right": "P", "exercise": "american"}
        answer = ev.what_if(account, [order])
        for key in ("nlv", "measure", "uncovered"):
            assert decimal.Decimal(answer["before"][key]) == rows[account][key], (account, key)
        assert answer["before"]["worst_scenario"] == rows[account]["worst_scenario"]

        # The oracle: the drop with the order filled at 9.05 (cash −2 × 100 × 9.05 back in).
        import shutil, tempfile
        with tempfile.TemporaryDirectory() as tmp:
            drop = shutil.copytree(nightly, f"{tmp}/drop")
            with open(f"{drop}/positions.csv", "a") as f:
                f.write(f"{account},AAPL 270115P230,OPT,USD,-2,100,9.05,AAPL,230,2027-01-15,P,american\n")
            with open(f"{drop}/cash.csv", "a") as f:
                f.write(f"{account},USD,1810\n")
            again = exfee.evaluation(exfee.read_drop(drop), **kwargs)
            row = next(r for r in again.table().to_pylist() if r["account"] == account)
        for key in ("nlv", "measure", "uncovered"):
            assert decimal.Decimal(answer["after"][key]) == row[key], (account, key)
        assert answer["after"]["worst_scenario"] == row["worst_scenario"]


def test_read_flex_reconciles_against_the_brokers_nav(nightly):
    """`nav-mismatch.csv`: positions and cash make 50,000, the broker's NAV
    says 10,000. `exfee run --flex` fails the account; read_flex returned
    it `ok` with NLV 50,000. Within a tolerance of 40,000 units it reads."""
    report = nightly.parent / "flex" / "quirks" / "nav-mismatch.csv"
    market = nightly / "market"
    row = exfee.evaluation(exfee.read_flex(report, market), date="2026-11-20",
                           scenario_set="fixed").table().to_pylist()[0]
    assert row["status"] == "failed"
    assert "broker NAV" in row["error"]
    wide = exfee.read_flex(report, market, nav_tolerance=decimal.Decimal("40001"))
    row = exfee.evaluation(wide, date="2026-11-20", scenario_set="fixed").table().to_pylist()[0]
    assert row["status"] != "failed" and row["nlv"] == decimal.Decimal("50000")
    with pytest.raises(ValueError, match="nav_tolerance"):
        exfee.read_flex(report, market, nav_tolerance="-1")


def test_numbers_in_frames_and_orders_are_read_in_plain_notation():
    """Decimal('1E-7') and the float 1e-05 are printed by Python in exponent
    form, which the engine's readers refuse: they were failed as "not a
    decimal number". A zero with places ("0.0") beside a holding failed the
    account as an inexact sum. By hand: 10 + 0.0000001 + 0.0 + 0.00001 ZZZ
    at 500, no cash: NLV 500 × 10.0000101 = 5,000.00505, 5,000.01 in cents."""
    accounts = pd.DataFrame({"account": ["P"], "base_currency": ["USD"]})
    positions = pd.DataFrame({
        "account": ["P"] * 4, "symbol": ["ZZZ"] * 4, "asset_class": ["STK"] * 4,
        "currency": ["USD"] * 4,
        "quantity": [decimal.Decimal("10"), decimal.Decimal("1E-7"), decimal.Decimal("0.0"),
                     decimal.Decimal("0.00001")],
        "mark": ["500"] * 4,
    })
    fx = pd.DataFrame({"currency": ["USD"], "usd_per_unit": [1]})
    batch = exfee.batch_from_frames(accounts, positions, fx=fx)
    row = exfee.evaluation(batch, date="2026-11-20", scenario_set="fixed").table().to_pylist()[0]
    assert row["error"] == "" and row["status"] != "failed"
    assert row["nlv"] == decimal.Decimal("5000.01")
    floats = positions.assign(quantity=[10.0, 1e-7, 0.0, 1e-05])
    row = exfee.evaluation(exfee.batch_from_frames(accounts, floats, fx=fx), date="2026-11-20",
                           scenario_set="fixed").table().to_pylist()[0]
    assert row["nlv"] == decimal.Decimal("5000.01")


def test_a_what_if_order_without_a_price_takes_its_own_accounts_mark():
    """A holds ZZZ at 500, B at 600. B buying 10 ZZZ without a price pays
    and holds them at B's own mark: its worst loss (ZZZ −50 %) is 11 × 300 =
    3,300. At A's mark, taken before, it was 1 × 300 + 10 × 250 = 2,800."""
    accounts = pd.DataFrame({"account": ["A", "B"], "base_currency": ["USD", "USD"]})
    positions = pd.DataFrame({
        "account": ["A", "B"], "symbol": ["ZZZ", "ZZZ"], "asset_class": ["STK", "STK"],
        "currency": ["USD", "USD"], "quantity": ["1", "1"], "mark": ["500", "600"],
    })
    cash = pd.DataFrame({"account": ["A", "B"], "currency": ["USD", "USD"], "amount": ["10000", "10000"]})
    fx = pd.DataFrame({"currency": ["USD"], "usd_per_unit": [1]})
    ev = exfee.evaluation(exfee.batch_from_frames(accounts, positions, cash, fx=fx),
                          date="2026-11-20", scenario_set="fixed")
    answer = ev.what_if("B", [{"symbol": "ZZZ", "asset_class": "STK", "currency": "USD",
                               "quantity": decimal.Decimal("1E+1")}])
    assert decimal.Decimal(answer["before"]["nlv"]) == 10_600
    assert decimal.Decimal(answer["after"]["nlv"]) == 10_600
    assert decimal.Decimal(answer["after"]["measure"]) == 3_300
