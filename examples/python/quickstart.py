"""exfee from Python, step by step (run it as a script or cell by cell in a
notebook): `pip install ./python`, then `python examples/python/quickstart.py`
from the repository's root."""

# %% Read tonight's drop and evaluate it: one row per account, the columns of
# results.csv (what `exfee run examples/nightly --date 2026-11-20` writes).
import exfee

batch = exfee.read_drop("examples/nightly")
print(batch)
table = exfee.evaluate(batch, date="2026-11-20", draws=2000, seed=1)
frame = table.to_pandas()
print(frame[["account", "base_currency", "nlv", "worst_loss", "uncovered", "fee_status", "daily_fee"]].head(10))

# %% Keep the evaluation to look inside: an account's P&L in every scenario
# as a NumPy array (the engine's own buffer, no copy).
ev = exfee.evaluation(batch, date="2026-11-20", draws=2000, seed=1)
account = frame.sort_values("worst_loss", ascending=False)["account"].iloc[0]
pnl = ev.pnl(account)
print(f"{account}: {pnl.size} scenarios, worst P&L {pnl.min():,.2f}, 1% quantile {sorted(pnl)[len(pnl) // 100]:,.2f}")
print(ev.assessment(account))

# %% What would an order do to the fee? (price defaults to tonight's mark)
print(ev.what_if("U1303271", [{"symbol": "AAPL", "asset_class": "STK", "currency": "USD", "quantity": -10}]))

# %% A batch of your own, from pandas DataFrames with the drop's columns.
import pandas as pd

accounts = pd.DataFrame({"account": ["DESK-1"], "base_currency": ["USD"]})
positions = pd.DataFrame({"account": ["DESK-1"], "symbol": ["ZZZ"], "asset_class": ["STK"],
                          "currency": ["USD"], "quantity": [-200], "mark": ["500"]})
cash = pd.DataFrame({"account": ["DESK-1"], "currency": ["USD"], "amount": ["120000"]})
own = exfee.batch_from_frames(accounts, positions, cash, market_dir="examples/nightly/market")
print(exfee.evaluate(own, date="2026-11-20", scenario_set="fixed").to_pandas().T)
