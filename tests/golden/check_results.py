#!/usr/bin/env python3
"""Independent recomputation of an `exfee run` results.csv (Python 3 standard
library only; no code shared with exfee).

    python3 tests/golden/check_results.py DROP_DIR RESULTS.csv --date YYYY-MM-DD
            [--scenarios SCENARIOS.csv] [--tables scenarios/]

From the drop's CSV files and the published scenario tables it recomputes,
for every account: the NLV (exact decimals), the P&L of every holding in
every scenario, the worst loss and its scenario (name and index; the first
on a tie), the uncovered amount and status, and the fee columns of a first
night (fresh state: grace for an uncovered account, effective 7 days later;
clear otherwise). It follows the documented method only: docs/fees.md §1
(leg P&L, futures, options re-centred on the model, the 1 % vol floor),
docs/formats.md (symbol mapping and its defaults, conventions),
docs/methodology.md §1 (the fixed stress set: every factor with a symbol at
its lower then upper bound, every currency, in a Monte Carlo set Equity
Volatility -30 % / +150 %, every held single stock -50 % / +50 %, sorted). Options are priced here with
Black-Scholes-Merton / Black-76 (European) and with Barone-Adesi-Whaley
solved by Newton's method (American), never below intrinsic or European.

Without --scenarios, the fixed stress set is built here from the tables
(nothing from exfee). With --scenarios (the CSV of `exfee scenarios --drop
DROP_DIR`), each scenario's factor, currency, volatility and per-symbol moves
are read from it; the fixed rows in it are first checked against the set
built here, and each symbol column that is not a single stock is checked to
be beta x its factor's column (so only the single stocks' own Monte Carlo
moves are taken from exfee on trust).

Prints one line per account that differs and a summary; exits 1 when a
number differs by more than a cent (accounts without American options) or by
more than --american-tolerance (relative, default 1e-4 of the loss) for
accounts holding American options.
"""

import argparse
import csv
import datetime
import math
import sys
from decimal import ROUND_HALF_EVEN, Decimal, getcontext

getcontext().prec = 28
CENT = Decimal("0.01")


def rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def money(x):
    return Decimal(repr(x)).quantize(CENT, rounding=ROUND_HALF_EVEN)


# --- option pricing ----------------------------------------------------------


def ncdf(x):
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def npdf(x):
    return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def european(call, s, k, t, r, b, v):
    """Generalised Black-Scholes-Merton with cost of carry b (b = 0: Black-76)."""
    if t <= 0.0:
        return max(s - k, 0.0) if call else max(k - s, 0.0)
    d1 = (math.log(s / k) + (b + 0.5 * v * v) * t) / (v * math.sqrt(t))
    d2 = d1 - v * math.sqrt(t)
    if call:
        return s * math.exp((b - r) * t) * ncdf(d1) - k * math.exp(-r * t) * ncdf(d2)
    return k * math.exp(-r * t) * ncdf(-d2) - s * math.exp((b - r) * t) * ncdf(-d1)


def baw(call, s, k, t, r, b, v):
    """Barone-Adesi and Whaley (1987), the critical price by Newton's method
    (as in Haug, The Complete Guide to Option Pricing Formulas, 2nd ed., 3.1)."""
    if t <= 0.0:
        return max(s - k, 0.0) if call else max(k - s, 0.0)
    if call and b >= r:
        return european(True, s, k, t, r, b, v)
    sq = v * math.sqrt(t)
    n = 2.0 * b / (v * v)
    m = 2.0 * r / (v * v)
    kk = 1.0 - math.exp(-r * t)
    if call:
        q2 = (-(n - 1.0) + math.sqrt((n - 1.0) ** 2 + 4.0 * m / kk)) / 2.0
        q2inf = (-(n - 1.0) + math.sqrt((n - 1.0) ** 2 + 4.0 * m)) / 2.0
        s_inf = k / (1.0 - 1.0 / q2inf)
        h2 = -(b * t + 2.0 * sq) * k / (s_inf - k)
        si = k + (s_inf - k) * (1.0 - math.exp(h2))
        for _ in range(200):
            d1 = (math.log(si / k) + (b + 0.5 * v * v) * t) / sq
            lhs = si - k
            rhs = european(True, si, k, t, r, b, v) + (1.0 - math.exp((b - r) * t) * ncdf(d1)) * si / q2
            bi = math.exp((b - r) * t) * ncdf(d1) * (1.0 - 1.0 / q2) + (
                1.0 - math.exp((b - r) * t) * npdf(d1) / sq
            ) / q2
            if abs(lhs - rhs) / k < 1e-12:
                break
            si = (k + rhs - bi * si) / (1.0 - bi)
        d1 = (math.log(si / k) + (b + 0.5 * v * v) * t) / sq
        a2 = (si / q2) * (1.0 - math.exp((b - r) * t) * ncdf(d1))
        if s < si:
            value = european(True, s, k, t, r, b, v) + a2 * (s / si) ** q2
        else:
            value = s - k
    else:
        q1 = (-(n - 1.0) - math.sqrt((n - 1.0) ** 2 + 4.0 * m / kk)) / 2.0
        q1inf = (-(n - 1.0) - math.sqrt((n - 1.0) ** 2 + 4.0 * m)) / 2.0
        s_inf = k / (1.0 - 1.0 / q1inf)
        h1 = (b * t - 2.0 * sq) * k / (k - s_inf)
        si = s_inf + (k - s_inf) * math.exp(h1)
        for _ in range(200):
            d1 = (math.log(si / k) + (b + 0.5 * v * v) * t) / sq
            lhs = k - si
            rhs = european(False, si, k, t, r, b, v) - (1.0 - math.exp((b - r) * t) * ncdf(-d1)) * si / q1
            bi = -math.exp((b - r) * t) * ncdf(-d1) * (1.0 - 1.0 / q1) - (
                1.0 + math.exp((b - r) * t) * npdf(-d1) / sq
            ) / q1
            if abs(lhs - rhs) / k < 1e-12:
                break
            si = (k - rhs + bi * si) / (1.0 + bi)
        d1 = (math.log(si / k) + (b + 0.5 * v * v) * t) / sq
        a1 = -(si / q1) * (1.0 - math.exp((b - r) * t) * ncdf(-d1))
        if s > si:
            value = european(False, s, k, t, r, b, v) + a1 * (s / si) ** q1
        else:
            value = k - s
    intrinsic = max(s - k, 0.0) if call else max(k - s, 0.0)
    return max(value, intrinsic, european(call, s, k, t, r, b, v))


# --- the drop ----------------------------------------------------------------


class Drop:
    def __init__(self, path, tables):
        self.accounts = rows(f"{path}/accounts.csv")
        self.positions = rows(f"{path}/positions.csv")
        self.cash = rows(f"{path}/cash.csv")
        self.usd = {r["currency"]: Decimal(r["usd_per_unit"]) for r in rows(f"{path}/market/fx.csv")}
        self.usd.setdefault("USD", Decimal(1))
        self.mapping = {r["symbol"]: r for r in rows(f"{path}/market/factors.csv")}
        self.underlyings = {r["symbol"]: r for r in rows(f"{path}/market/underlyings.csv")}
        self.rates = {r["currency"]: float(r["rate"]) for r in rows(f"{path}/market/rates.csv")}
        self.factors = []  # (name, symbol, lower, upper) in table order, with a symbol
        for r in rows(f"{tables}/risk-factors-current.csv"):
            lo, hi = r["lower_bound_pct"], r["upper_bound_pct"]
            if r["symbol"]:
                self.factors.append((r["factor"], r["symbol"], lo, hi))
            else:
                self.stock_bounds = (lo, hi)
        self.fx_table = [(r["currency"], r["lower_bound_pct"], r["upper_bound_pct"]) for r in rows(f"{tables}/fx-factors-current.csv")]

    def rate(self, currency, base):
        """Base units per unit of `currency` (exact)."""
        return self.usd[currency] / self.usd[base]

    def driver(self, symbol, klass, currency):
        """(factor name, beta, single stock?) as docs/formats.md says."""
        if symbol in self.mapping:
            m = self.mapping[symbol]
            idio = m.get("idio_vol", "")
            return m["factor"], float(m["beta"]), idio == "" or float(idio) > 0
        for name, sym, _, _ in self.factors:
            if sym == symbol:
                return name, 1.0, False
        names = {f[0] for f in self.factors}
        if klass == "CRYPTO":
            preferred = ["Crypto"]
        elif klass == "BOND":
            preferred = {"USD": ["Treasury"], "EUR": ["EuroBund"], "JPY": ["JGB"]}.get(currency, ["Treasury2"]) + ["Treasury"]
        else:
            by_currency = {
                "EUR": "European Equity",
                "GBP": "United Kingdom Equity",
                "JPY": "Japanese Equity",
                "HKD": "Hong Kong Equity",
                "AUD": "Australia Equity",
                "KRW": "Korean Equity",
                "CNY": "Mainland China Equity",
                "CNH": "Mainland China Equity",
                "INR": "Indian Equity",
            }
            preferred = [by_currency.get(currency, "Equity"), "Equity"]
        name = next(n for n in preferred if n in names)
        return name, 1.0, klass in ("STK", "FUND", "OPT")


def pct_name(text):
    """A bound as written in a scenario name: -30.00 -> -30, 9.90 -> +9.9."""
    d = Decimal(text).normalize()
    s = format(d, "f")
    return ("+" if d >= 0 else "") + s + "%"


def fixed_scenarios(drop, stocks, with_vol):
    """The fixed stress scenarios: (name, {variable: move}), variables being
    ('F', factor), ('C', currency), ('V',) and ('S', symbol). The two
    equity-volatility scenarios belong to a Monte Carlo set's fixed part only
    (`--fixed-only` keeps implied volatilities still: docs of
    ScenarioSet::fixed_stress)."""
    out = []
    for name, _, lo, hi in drop.factors:
        for b in (lo, hi):
            out.append((f"{name}@{pct_name(b)}", {("F", name): float(b) / 100.0}))
    for cur, lo, hi in drop.fx_table:
        for b in (lo, hi):
            out.append((f"{cur}@{pct_name(b)}", {("C", cur): float(b) / 100.0}))
    for b in ("-30", "150") if with_vol else ():
        out.append((f"Equity Volatility@{pct_name(b)}", {("V",): float(b) / 100.0}))
    lo, hi = drop.stock_bounds
    for s in stocks:
        for b in (lo, hi):
            out.append((f"{s}@{pct_name(b)}", {("S", s): float(b) / 100.0}))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("drop")
    ap.add_argument("results")
    ap.add_argument("--date", required=True)
    ap.add_argument("--scenarios")
    ap.add_argument("--tables", default="scenarios")
    ap.add_argument("--american-tolerance", type=float, default=1e-4)
    args = ap.parse_args()
    date = datetime.date.fromisoformat(args.date)
    drop = Drop(args.drop, args.tables)
    lo_s, hi_s = (float(x) / 100.0 for x in drop.stock_bounds)

    bases = {}
    inventory = {}
    for a in drop.accounts:
        bases[a["account"]] = a["base_currency"]
        inventory[a["account"]] = a.get("inventory_fee", "") or ""

    # Every holding, with what drives it.
    holdings = {a: [] for a in bases}
    stocks = set()
    for p in drop.positions:
        klass = p["asset_class"]
        if klass == "FUT":
            risk = p["underlying"] or p["symbol"]
        elif klass in ("OPT", "FOP"):
            risk = p["underlying"]
        else:
            risk = p["symbol"]
        factor, beta, single = drop.driver(risk, klass, p["currency"])
        if single:
            stocks.add(risk)
        holdings[p["account"]].append((p, risk, factor, beta, single))
    stocks = sorted(stocks)

    fixed = fixed_scenarios(drop, stocks, with_vol=bool(args.scenarios))
    if args.scenarios:
        with open(args.scenarios, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader)
            table = [r for r in reader]
        col = {h: i for i, h in enumerate(header)}
        names = [r[1] for r in table]
        first_fixed = next(i for i, n in enumerate(names) if n)
        built = [n for n, _ in fixed]
        assert names[first_fixed:] == built, "the fixed rows of the scenarios CSV are not the set built here"
        factor_names = [f[0] for f in drop.factors]
        currency_names = [c[0] for c in drop.fx_table]

        def moves(i):
            r = table[i]
            m = {("F", n): float(r[col[n]]) for n in factor_names}
            m.update({("C", c): float(r[col[c]]) for c in currency_names})
            m[("V",)] = float(r[col["Equity Volatility"]])
            m.update({("T", s): float(r[col[s]]) for s in header[col["Equity Volatility"] + 1:]})
            return m

        scenarios = [(names[i], moves(i)) for i in range(len(table))]
        # The fixed rows hold exactly the moves built here.
        for (name, built_moves), (_, read) in zip(fixed, scenarios[first_fixed:]):
            for key, value in read.items():
                if key[0] in "FCV":
                    want = built_moves.get(key, 0.0)
                    assert abs(value - want) < 1e-12, (name, key, value, want)
    else:
        scenarios = fixed

    def total_move(m, risk, factor, beta, single):
        if ("T", risk) in m:
            t = m[("T", risk)]
            if not single:  # checked, not trusted: beta x factor
                want = max(beta * m.get(("F", factor), 0.0), -1.0)
                assert abs(t - want) < 1e-12, (risk, t, want)
            return t
        f = m.get(("F", factor), 0.0)
        if single:
            return min(max(beta * f + m.get(("S", risk), 0.0), lo_s), hi_s)
        return max(beta * f, -1.0)

    n = len(scenarios)
    failures = 0
    checked = 0
    with open(args.results, newline="", encoding="utf-8") as f:
        results = {r["account"]: r for r in csv.DictReader(f)}
    for account, base in bases.items():
        nlv = Decimal(0)
        pnl = [0.0] * n
        american = False
        warnings = []
        for c in drop.cash:
            if c["account"] != account:
                continue
            amount = Decimal(c["amount"])
            nlv += amount * drop.rate(c["currency"], base)
            rate = float(drop.rate(c["currency"], base))
            if c["currency"] != base:
                for s, (_, m) in enumerate(scenarios):
                    pnl[s] += float(amount) * rate * m.get(("C", c["currency"]), 0.0)
        for p, risk, factor, beta, single in holdings[account]:
            klass = p["asset_class"]
            q = Decimal(p["quantity"])
            mult = Decimal(p["multiplier"] or "1")
            mark = Decimal(p["mark"])
            cur = p["currency"]
            rate = float(drop.rate(cur, base))
            if klass != "FUT":
                nlv += q * mult * mark * drop.rate(cur, base)
            v0 = float(mult * mark)
            qf = float(q)
            if klass in ("OPT", "FOP"):
                u = drop.underlyings[p["underlying"]]
                s0 = float(u["price"])
                vol = float(u["implied_vol"])
                r = drop.rates[cur]
                b = 0.0 if klass == "FOP" else r - float(u.get("dividend_yield") or 0)
                k = float(p["strike"])
                t = (datetime.date.fromisoformat(p["expiry"]) - date).days / 365.0
                call = p["right"] == "C"
                amer = (p.get("exercise") or "american") == "american"
                american |= amer
                price = baw if amer else european
                model0 = price(call, s0, k, t, r, b, vol)
            for s, (_, m) in enumerate(scenarios):
                fx = m.get(("C", cur), 0.0) if cur != base else 0.0
                move = total_move(m, risk, factor, beta, single)
                if klass == "FUT":
                    vs, base_value = v0 * move, 0.0
                elif klass in ("OPT", "FOP"):
                    sigma = max(vol * (1.0 + m.get(("V",), 0.0)), 0.01)
                    vs = v0 + float(mult) * (price(call, s0 * (1.0 + move), k, t, r, b, sigma) - model0)
                    base_value = v0
                else:
                    vs, base_value = v0 * (1.0 + move), v0
                pnl[s] += qf * (rate * (vs * (1.0 + fx) - base_value))
        worst = min(range(n), key=lambda s: (pnl[s], s))
        loss = money(-pnl[worst])
        nlv = nlv.quantize(CENT, rounding=ROUND_HALF_EVEN)
        uncovered = max(Decimal(0), loss - nlv)
        name = scenarios[worst][0] or f"#{worst}"
        subject = uncovered > 0
        expected = {
            "base_currency": base,
            "status": "uncovered" if subject else "ok",
            "nlv": nlv,
            "worst_loss": loss,
            "worst_scenario": name,
            "uncovered": uncovered,
            "worst_scenario_index": str(worst),
            "measure": loss,
            "fee_status": "grace" if subject else "clear",
            "daily_fee": Decimal(0),
            "days_charged": "1" if date.weekday() < 5 and date.weekday() != 0 else None,
            "fee_effective_date": str(date + datetime.timedelta(days=7)) if subject else "",
            "inventory_fee": inventory[account],
            "fee_paid": "",
            "days_posted": "0",
            "amount_posted": Decimal(0),
            "error": "",
        }
        got = results[account]
        checked += 1
        for key, want in expected.items():
            if want is None:
                continue
            have = got[key]
            if isinstance(want, Decimal):
                diff = abs(Decimal(have) - want)
                tolerance = CENT
                if american and key in ("worst_loss", "uncovered", "measure"):
                    tolerance = max(CENT, abs(want) * Decimal(repr(args.american_tolerance)))
                ok = diff <= tolerance
                note = "" if diff == 0 else f" (differs by {diff})"
            else:
                ok = have == want
                note = ""
            if not ok or note:
                print(f"{account}: {key} = {have!r}, recomputed {want}{note}{'' if ok else '  <-- MISMATCH'}")
            failures += not ok
    print(f"checked {checked} accounts over {n} scenarios: {failures} mismatch(es)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
