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
Black-Scholes-Merton / Black-76 (European) and, American, by a
finite-difference (Crank-Nicolson, Brennan-Schwartz) grid tabulated over
the vol, never below intrinsic or European.

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


def _cubic(xs0, h, ys, x):
    """Lagrange cubic through the four uniform nodes around x (xs0 + i h)."""
    f = (x - xs0) / h
    i = min(max(int(math.floor(f)) - 1, 0), len(ys) - 4)
    u = f - i
    w = (-(u - 1) * (u - 2) * (u - 3) / 6, u * (u - 2) * (u - 3) / 2, -u * (u - 1) * (u - 3) / 2, u * (u - 1) * (u - 2) / 6)
    return sum(w[j] * ys[i + j] for j in range(4))


def _put_pde(r, q, v, t, nodes=800, steps=200):
    """American put with strike 1 by finite differences in x = ln S: implicit
    Euler start (4 quarter steps, Rannacher) then Crank-Nicolson, the early
    exercise constraint by the Brennan-Schwartz elimination. Returns (x0, dx,
    values) on the uniform grid."""
    sd = v * math.sqrt(t)
    half = max(5.5 * sd, 0.4) + abs(r - q) * t
    dx = 2.0 * half / nodes
    xs = [-half + i * dx for i in range(nodes + 1)]
    payoff = [max(1.0 - math.exp(x), 0.0) for x in xs]
    mu = r - q - 0.5 * v * v
    lo = 0.5 * v * v / (dx * dx) - mu / (2.0 * dx)
    hi = 0.5 * v * v / (dx * dx) + mu / (2.0 * dx)
    di = -v * v / (dx * dx) - r
    val = payoff[:]
    dt_full = t / steps
    schedule = [(dt_full / 4.0, 1.0)] * 8 + [(dt_full, 0.5)] * (steps - 2)
    for dt, th in schedule:
        ex = 1.0 - th
        rhs = [0.0] * (nodes + 1)
        for i in range(1, nodes):
            rhs[i] = val[i] + ex * dt * (lo * val[i - 1] + di * val[i] + hi * val[i + 1])
        a, bb, c = -th * dt * lo, 1.0 - th * dt * di, -th * dt * hi
        top, bottom = 0.0, payoff[0]
        # Eliminate from the top (continuation side) down, then substitute
        # upwards from the exercise side, projecting on the payoff.
        bp = [0.0] * (nodes + 1)
        dp = [0.0] * (nodes + 1)
        bp[nodes - 1] = bb
        dp[nodes - 1] = rhs[nodes - 1] - c * top
        for i in range(nodes - 2, 0, -1):
            m = c / bp[i + 1]
            bp[i] = bb - m * a
            dp[i] = rhs[i] - m * dp[i + 1]
        new = [0.0] * (nodes + 1)
        new[0], new[nodes] = bottom, top
        for i in range(1, nodes):
            new[i] = max(payoff[i], (dp[i] - a * new[i - 1]) / bp[i])
        val = new
    return xs[0], dx, val


_PDE_CACHE = {}
_VOL_STEP = 0.1


def american_fd(call, s, k, t, r, b, v):
    """American price by a finite-difference grid (an independent method: the
    engine uses an integral equation). The contract is worked as a put with
    strike 1 (a call through put-call symmetry, r and q = r - b swapped),
    solved on a fixed grid of vols (ln-spacing 0.1) and interpolated by
    cubics in ln S and ln vol. Where early exercise never pays (a put with
    r <= 0, a call with q <= 0) the European price (the engine's documented
    rule)."""
    intrinsic = max(s - k, 0.0) if call else max(k - s, 0.0)
    euro = european(call, s, k, t, r, b, v)
    if t <= 0.0:
        return intrinsic
    q = r - b
    rr, qq, x, scale = (q, r, k / s, s) if call else (r, q, s / k, k)
    if rr <= 0.0:
        return max(euro, intrinsic)
    f = math.log(v) / _VOL_STEP
    j0 = int(math.floor(f)) - 1
    ys = []
    for j in range(j0, j0 + 4):
        key = (rr, qq, t, j)
        if key not in _PDE_CACHE:
            _PDE_CACHE[key] = _put_pde(rr, qq, math.exp(j * _VOL_STEP), t)
        x0, dx, val = _PDE_CACHE[key]
        ys.append(_cubic(x0, dx, val, math.log(x)))
    value = scale * _cubic(j0 * _VOL_STEP, _VOL_STEP, ys, math.log(v))
    return max(value, intrinsic, euro)


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
                price = american_fd if amer else european
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
