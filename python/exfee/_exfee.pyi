"""Typed stubs of the native module (exfee._exfee)."""

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

class ExfeeError(Exception):
    """An error of the exfee engine."""

    file: Optional[str]
    line: Optional[int]
    column: Optional[str]
    reason: str

class InputError(ExfeeError):
    """An input that cannot be read or used (file, line, column, reason)."""

class Batch:
    """A batch of accounts with tonight's market data."""

    @property
    def accounts(self) -> List[str]: ...
    @property
    def errors(self) -> List[Dict[str, Any]]: ...
    @property
    def report_dates(self) -> List[str]: ...
    def raise_errors(self) -> None: ...
    def __len__(self) -> int: ...

class Evaluation:
    @property
    def columns(self) -> List[str]: ...
    @property
    def scenario_count(self) -> int: ...
    def rows(self) -> List[List[str]]: ...
    def scenario_names(self) -> List[Optional[str]]: ...
    def pnl(self, account: str) -> npt.NDArray[np.float64]: ...
    def pnl_matrix(self, accounts: Sequence[str]) -> npt.NDArray[np.float64]: ...
    def assessment(self, account: str) -> Dict[str, str]: ...
    def what_if(self, account: str, orders_json: str) -> Dict[str, Any]: ...

def read_drop(path: str, scenario_set: Union[None, str, Mapping[str, Any]] = None) -> Batch: ...
def read_flex(
    paths: Sequence[str],
    market: str,
    scenario_set: Union[None, str, Mapping[str, Any]] = None,
    nav_tolerance: str = "1",
    nav_tolerance_pct: str = "0.01",
) -> Batch: ...
def batch_from_csv(
    tables: Mapping[str, bytes],
    market_dir: Optional[str] = None,
    scenario_set: Union[None, str, Mapping[str, Any]] = None,
) -> Batch: ...
def evaluate(
    batch: Batch,
    date: str,
    scenario_set: Union[None, str, Mapping[str, Any]] = None,
    horizon_days: int = 0,
    seed: Optional[int] = None,
    draws: Optional[int] = None,
    fee: Optional[str] = None,
    holidays: Optional[str] = None,
) -> Evaluation: ...

# The native half of exfee.spark (docs/scaling.md, "On Spark").
_Lines = Mapping[str, Sequence[Tuple[int, bytes]]]
_Bundle = Optional[Tuple[str, str, Dict[str, Tuple[str, bytes]]]]

def shard_of(account: str, count: int) -> int: ...
def route_lines(header: bytes, lines: Sequence[bytes]) -> Tuple[List[Optional[str]], List[int]]: ...
def scenario_bundle(scenario_set: Optional[str] = None) -> _Bundle: ...
def part_stocks(drop_dir: str, files: _Lines, market: Mapping[str, bytes], scenario: _Bundle) -> List[Tuple[str, int]]: ...
def evaluate_part_file(
    drop_dir: str,
    files: _Lines,
    market: Mapping[str, bytes],
    scenario: _Bundle,
    index: int,
    count: int,
    positions: Mapping[str, int],
    stocks: Sequence[Tuple[str, int]],
    out: str,
    date: str,
    horizon_days: int = 0,
    memory_budget_mib: int = 512,
    fee_text: Optional[str] = None,
) -> int: ...
