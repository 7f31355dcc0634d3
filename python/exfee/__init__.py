"""exfee: a Monte Carlo exposure-fee risk engine, from Python.

Every account of a batch is revalued under every stress scenario of its
primary risk factors; the worst loss beyond its net liquidation value is the
*uncovered* loss that the exposure fee charges. The engine is the Rust
library behind the ``exfee`` command: the figures here are those of
``exfee run`` on the same inputs, bit for bit.

>>> import exfee
>>> batch = exfee.read_drop("examples/nightly")            # doctest: +SKIP
>>> table = exfee.evaluate(batch, date="2026-11-20")        # doctest: +SKIP
>>> table.to_pandas()                                       # doctest: +SKIP
"""

from __future__ import annotations

import decimal
import io
import json
import os
from datetime import date as _date
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

import numpy as np
import pyarrow as pa

from . import _exfee
from ._exfee import Batch, ExfeeError, InputError

__all__ = [
    "Batch",
    "Evaluation",
    "ExfeeError",
    "InputError",
    "RESULT_TYPES",
    "batch_from_frames",
    "evaluate",
    "evaluation",
    "read_drop",
    "read_flex",
    "results_table",
]

PathLike = Union[str, "os.PathLike[str]"]
ScenarioSet = Union[None, str, "os.PathLike[str]", Mapping[str, Any]]

#: How each ``results.csv`` column is typed in the results table: money and
#: risk figures as exact decimals, counts as integers, dates as dates, the
#: rest as text. A column not listed is text.
RESULT_TYPES = {
    "nlv": "decimal",
    "worst_loss": "decimal",
    "uncovered": "decimal",
    "measure": "decimal",
    "daily_fee": "decimal",
    "inventory_fee": "decimal",
    "accrued_daily_fee": "decimal",
    "amount_posted": "decimal",
    "days_posted": "int",
    "worst_scenario_index": "int",
    "days_charged": "int",
    "fee_effective_date": "date",
}


def _scenario_arg(scenario_set: ScenarioSet) -> Any:
    if scenario_set is None or isinstance(scenario_set, (str, Mapping)):
        return scenario_set
    if isinstance(scenario_set, os.PathLike):
        return os.fspath(scenario_set)
    raise TypeError(
        "scenario_set is None, 'default', 'legacy', 'fixed', a TOML path or a dict, not "
        f"{type(scenario_set).__name__}"
    )


def read_drop(path: PathLike, scenario_set: ScenarioSet = None) -> Batch:
    """Read a drop folder: ``accounts.csv``, ``positions.csv``, ``cash.csv``
    and ``market/`` (``fx.csv``, ``factors.csv``, ``underlyings.csv``,
    ``rates.csv``).

    Bad rows do not raise: they fail the account they name (its row in the
    results says why, with file, line and column) or are listed in
    ``Batch.errors``. A missing required file or column raises
    :class:`InputError`.

    ``scenario_set`` is the set the batch will be evaluated under (its factor
    table decides which ``market/factors.csv`` rows are valid); default: the
    built-in default set.
    """
    return _exfee.read_drop(os.fspath(path), _scenario_arg(scenario_set))


def read_flex(
    paths: Union[PathLike, Sequence[PathLike]],
    market: PathLike,
    scenario_set: ScenarioSet = None,
    nav_tolerance: Union[str, "decimal.Decimal", int] = "1",
    nav_tolerance_pct: Union[str, "decimal.Decimal", int] = "0.01",
) -> Batch:
    """Read broker Flex Query reports (files or folders of them) with the
    market files of the folder ``market`` (``fx.csv``, ``factors.csv``, …),
    as ``exfee run --flex`` reads them: an account whose NLV differs from
    the broker's NAV by more than the larger of ``nav_tolerance`` base units
    and ``nav_tolerance_pct`` percent of its NLV is failed."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    return _exfee.read_flex(
        [os.fspath(p) for p in paths],
        os.fspath(market),
        _scenario_arg(scenario_set),
        _plain(nav_tolerance),
        _plain(nav_tolerance_pct),
    )


def _plain(value: Any) -> str:
    """A number as plain decimal text (never scientific notation, which the
    engine's readers refuse): ``Decimal("1E-7")`` is ``"0.0000001"``."""
    if isinstance(value, bool):
        raise TypeError("a number is expected, not a bool")
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    return str(value)


def _cell(value: Any) -> Any:
    """A frame's or an order's number in plain notation, as the engine's
    readers take numbers (`str` would give ``1E-7`` for a Decimal and
    ``1e-05`` for a float, which they refuse): a Decimal as written, a
    finite float as its shortest round-trip digits. Anything else as it is
    (a bool, a NaN or a text is the reader's to refuse or read)."""
    if isinstance(value, decimal.Decimal) and value.is_finite():
        return format(value, "f")
    if isinstance(value, float) and np.isfinite(value):
        return np.format_float_positional(value, unique=True, trim="-")
    return value


def _csv_bytes(frame: Any) -> bytes:
    """A pandas DataFrame or an Arrow table as CSV text, every value as it
    prints (no index)."""
    if isinstance(frame, pa.Table):
        frame = frame.to_pandas()
    if hasattr(frame, "to_csv"):
        frame = frame.copy()
        for column in frame.columns:
            values = frame[column]
            if values.dtype.kind == "f":
                # Python writes a float in exponent form below 1e-4 and from
                # 1e16: only such a column needs its cells rewritten.
                size = values.abs()
                if not ((size >= 1e16) | ((size < 1e-4) & (size > 0))).any():
                    continue
            elif values.dtype.kind != "O":
                continue
            frame[column] = values.map(_cell)
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False)
        return buffer.getvalue().encode("utf-8")
    raise TypeError(f"expected a pandas DataFrame or a pyarrow Table, not {type(frame).__name__}")


def batch_from_frames(
    accounts: Any,
    positions: Any,
    cash: Any = None,
    *,
    fx: Any = None,
    factors: Any = None,
    underlyings: Any = None,
    rates: Any = None,
    market_dir: Optional[PathLike] = None,
    scenario_set: ScenarioSet = None,
) -> Batch:
    """Build a batch from pandas DataFrames or Arrow tables with the drop's
    columns (``accounts``: account, base_currency; ``positions``: account,
    symbol, asset_class, currency, quantity, mark, …; ``cash``: account,
    currency, amount; market tables as in ``market/``).

    Every row is validated exactly as the same row of a drop file would be;
    errors name the table (``<positions>``) and the line it would have in a
    CSV file (the header is line 1, the first row line 2). Market tables not
    given are read from ``market_dir`` when given.
    """
    tables = {"accounts": accounts, "positions": positions, "cash": cash, "fx": fx,
              "factors": factors, "underlyings": underlyings, "rates": rates}
    texts = {name: _csv_bytes(frame) for name, frame in tables.items() if frame is not None}
    return _exfee.batch_from_csv(
        texts,
        None if market_dir is None else os.fspath(market_dir),
        _scenario_arg(scenario_set),
    )


def _typed_column(name: str, cells: Sequence[str]) -> pa.Array:
    kind = RESULT_TYPES.get(name, "text")
    if kind == "decimal":
        values = [None if c == "" else decimal.Decimal(c) for c in cells]
        scale = max((-v.as_tuple().exponent for v in values if v is not None), default=2)
        scale = max(scale, 0)
        return pa.array(values, type=pa.decimal128(38, scale))
    if kind == "int":
        return pa.array([None if c == "" else int(c) for c in cells], type=pa.int64())
    if kind == "date":
        return pa.array(
            [None if c == "" else _date.fromisoformat(c) for c in cells], type=pa.date32()
        )
    return pa.array(cells, type=pa.string())


class Evaluation:
    """One night's evaluation of a batch: results, fees, scenario P&L and
    what-if. Made by :func:`evaluation`."""

    def __init__(self, native: Any) -> None:
        self._native = native

    @property
    def columns(self) -> list:
        """The ``results.csv`` columns, in order."""
        return list(self._native.columns)

    @property
    def scenario_count(self) -> int:
        """Number of scenarios in the set."""
        return self._native.scenario_count

    def scenario_names(self) -> list:
        """Each scenario's name (``None`` for an unnamed Monte Carlo draw)."""
        return self._native.scenario_names()

    def table(self) -> pa.Table:
        """The results as a ``pyarrow.Table``: the columns of ``results.csv``
        with its values (typed as :data:`RESULT_TYPES` says; an empty cell is
        null)."""
        return results_table(self.columns, self._native.rows())

    def pnl(self, account: str) -> np.ndarray:
        """The account's P&L (base currency) in each scenario, float64, a
        NumPy array over the engine's own buffer (no copy)."""
        return self._native.pnl(account)

    def pnl_matrix(self, accounts: Iterable[str]) -> np.ndarray:
        """The accounts' P&L as one (accounts × scenarios) float64 array."""
        return self._native.pnl_matrix(list(accounts))

    def assessment(self, account: str) -> dict:
        """The account's fee assessment: its ``results.csv`` cells as text,
        with the daily fee its measurement implies (``measured_daily_fee``,
        whether or not the account is in grace), the schedule threshold and
        the annual amount."""
        return self._native.assessment(account)

    def what_if(self, account: str, orders: Any) -> dict:
        """The fee of ``account`` before and after filling ``orders`` (a
        list of dicts, or a DataFrame, with the fields of ``positions.csv``:
        symbol, asset_class, currency, quantity and optionally price —
        default tonight's mark —, multiplier, underlying, strike, expiry,
        right, exercise). Money as decimal text."""
        if hasattr(orders, "to_dict"):
            orders = [
                {k: v for k, v in row.items() if v is not None and v == v}
                for row in orders.to_dict(orient="records")
            ]
        orders = [
            {k: _cell(v) for k, v in order.items()} if isinstance(order, Mapping) else order
            for order in orders
        ]
        return self._native.what_if(account, json.dumps(orders, default=str))


def evaluation(
    batch: Batch,
    date: str,
    scenario_set: ScenarioSet = None,
    horizon_days: int = 0,
    seed: Optional[int] = None,
    draws: Optional[int] = None,
    fee: Optional[PathLike] = None,
    holidays: Optional[PathLike] = None,
) -> Evaluation:
    """Evaluate ``batch`` on ``date`` (``YYYY-MM-DD``) and keep everything:
    see :class:`Evaluation`. Arguments as :func:`evaluate`."""
    native = _exfee.evaluate(
        batch,
        date,
        _scenario_arg(scenario_set),
        horizon_days,
        seed,
        draws,
        None if fee is None else os.fspath(fee),
        None if holidays is None else os.fspath(holidays),
    )
    return Evaluation(native)


def evaluate(
    batch: Batch,
    date: str,
    scenario_set: ScenarioSet = None,
    horizon_days: int = 0,
    seed: Optional[int] = None,
    draws: Optional[int] = None,
    fee: Optional[PathLike] = None,
    holidays: Optional[PathLike] = None,
) -> pa.Table:
    """Evaluate every account of ``batch`` on ``date`` (``YYYY-MM-DD``) and
    return the results as a ``pyarrow.Table`` whose columns are those of
    ``results.csv``, with the same values as ``exfee run`` on the same inputs
    with a fresh state (a first night: no grace history).

    ``scenario_set``: ``None``/``"default"`` (the built-in 10,000-draw set),
    ``"legacy"``, ``"fixed"`` (fixed stress scenarios only), a TOML path, or
    a dict of the TOML keys (table files resolved against its ``base_dir``
    key, then the built-in tables). ``seed`` and ``draws`` override the
    set's. ``fee``: a fee-schedule TOML; ``holidays``: a holiday file. The
    engine runs without the GIL.
    """
    return evaluation(batch, date, scenario_set, horizon_days, seed, draws, fee, holidays).table()


def results_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> pa.Table:
    """A results table from ``results.csv`` columns and text rows (typed as
    :data:`RESULT_TYPES` says)."""
    arrays = [_typed_column(name, [row[i] for row in rows]) for i, name in enumerate(columns)]
    return pa.Table.from_arrays(arrays, names=list(columns))
