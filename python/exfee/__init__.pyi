"""Typed stubs of the exfee package."""

import decimal
import os
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from ._exfee import Batch as Batch
from ._exfee import ExfeeError as ExfeeError
from ._exfee import InputError as InputError

PathLike = Union[str, os.PathLike[str]]
ScenarioSet = Union[None, str, os.PathLike[str], Mapping[str, Any]]

RESULT_TYPES: Dict[str, str]

def read_drop(path: PathLike, scenario_set: ScenarioSet = ...) -> Batch: ...
def read_flex(
    paths: Union[PathLike, Sequence[PathLike]],
    market: PathLike,
    scenario_set: ScenarioSet = ...,
    nav_tolerance: Union[str, decimal.Decimal, int] = ...,
    nav_tolerance_pct: Union[str, decimal.Decimal, int] = ...,
) -> Batch: ...
def batch_from_frames(
    accounts: Any,
    positions: Any,
    cash: Any = ...,
    *,
    fx: Any = ...,
    factors: Any = ...,
    underlyings: Any = ...,
    rates: Any = ...,
    market_dir: Optional[PathLike] = ...,
    scenario_set: ScenarioSet = ...,
) -> Batch: ...

class Evaluation:
    @property
    def columns(self) -> List[str]: ...
    @property
    def scenario_count(self) -> int: ...
    def scenario_names(self) -> List[Optional[str]]: ...
    def table(self) -> pa.Table: ...
    def pnl(self, account: str) -> npt.NDArray[np.float64]: ...
    def pnl_matrix(self, accounts: Iterable[str]) -> npt.NDArray[np.float64]: ...
    def assessment(self, account: str) -> Dict[str, str]: ...
    def what_if(self, account: str, orders: Any) -> Dict[str, Any]: ...

def evaluation(
    batch: Batch,
    date: str,
    scenario_set: ScenarioSet = ...,
    horizon_days: int = ...,
    seed: Optional[int] = ...,
    draws: Optional[int] = ...,
    fee: Optional[PathLike] = ...,
    holidays: Optional[PathLike] = ...,
) -> Evaluation: ...
def evaluate(
    batch: Batch,
    date: str,
    scenario_set: ScenarioSet = ...,
    horizon_days: int = ...,
    seed: Optional[int] = ...,
    draws: Optional[int] = ...,
    fee: Optional[PathLike] = ...,
    holidays: Optional[PathLike] = ...,
) -> pa.Table: ...
def results_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> pa.Table: ...
