#!/usr/bin/env bash
# Load benchmark of `exfee serve` (docs/performance.md): a synthetic batch,
# its nightly evaluation timed (`exfee run --no-reports`), the service on
# loopback, then wrk with 64 connections on 2 threads, each case twice: at
# saturation (throughput) and at about 500 requests/s offered (64
# connections × one request per 128 ms: latency at that load). Cases:
#   held   one account, an order on a stock it holds;
#   option one account, a new option whose strike differs on every request
#          (a leg never seen: priced over every scenario each time);
#   many   ACCOUNTS_ASKED accounts at random, each an order on its first stock
#          (first questions on an account included).
# Usage: benches/serve/run.sh [ACCOUNTS] [SECONDS] [ACCOUNTS_ASKED]
#   (default 20000 accounts, 30 s per wrk run, 2000 accounts asked)
# Needs a release build (cargo build --release) and wrk (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/../.."
accounts=${1:-20000}
seconds=${2:-30}
asked=${3:-2000}
bin=${EXFEE_BIN:-target/release/exfee}
work=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
"$bin" synth --accounts "$accounts" --seed 1 --date 2026-11-20 --out "$work/drop" -q
start=$(date +%s.%N)
"$bin" run "$work/drop" --date 2026-11-20 --no-reports --out "$work/out" --quiet || true
echo "exfee run --no-reports: $(echo "$(date +%s.%N) - $start" | bc) s"
rm -rf "$work/out"
export EXFEE_TOKEN=bench-token-0123456789abcdef
start=$(date +%s.%N)
"$bin" serve "$work/drop" --date 2026-11-20 --listen 127.0.0.1:18080 --timeout 60 2>"$work/serve.log" &
server=$!
until curl -sf http://127.0.0.1:18080/healthz >/dev/null; do sleep 0.1; done
echo "first answer after $(echo "$(date +%s.%N) - $start" | bc) s"
grep -E "evaluated" "$work/serve.log" || true
grep -E "VmRSS" /proc/$server/status
# The first account of the drop and its first stock (a held instrument).
account=$(sed -n 2p "$work/drop/accounts.csv" | cut -d, -f1)
IFS=, read -r symbol currency <<<"$(awk -F, -v a="$account" '$1 == a && $3 == "STK" { print $2 "," $4; exit }' "$work/drop/positions.csv")"
echo "{\"account\":\"$account\",\"orders\":[{\"symbol\":\"$symbol\",\"asset_class\":\"STK\",\"currency\":\"$currency\",\"quantity\":-1}]}" >"$work/held.txt"
# Options on a listed underlying (market/underlyings.csv), new to the
# account: 20,000 strikes around the spot, none repeated in a run of this
# length at this rate but by chance.
IFS=, read -r symbol currency spot <<<"$(awk -F, 'NR == 2 { print $1 "," $2 "," $3; exit }' "$work/drop/market/underlyings.csv")"
awk -v a="$account" -v s="$symbol" -v c="$currency" -v spot="$spot" 'BEGIN {
  for (i = 0; i < 20000; i++) {
    k = sprintf("%.2f", spot * (0.7 + 0.6 * i / 20000))
    printf "{\"account\":\"%s\",\"orders\":[{\"symbol\":\"%s 270115C%s\",\"asset_class\":\"OPT\",\"currency\":\"%s\",\"quantity\":1,\"price\":\"1.5\",\"multiplier\":100,\"underlying\":\"%s\",\"strike\":\"%s\",\"expiry\":\"2027-01-15\",\"right\":\"C\",\"exercise\":\"american\"}]}\n", a, s, k, c, s, k
  }
}' >"$work/option.txt"
# Held-instrument orders over many accounts: each account's first stock.
awk -F, -v n="$asked" 'NR > 1 && $3 == "STK" && !($1 in seen) && count < n {
  seen[$1] = 1; count++
  printf "{\"account\":\"%s\",\"orders\":[{\"symbol\":\"%s\",\"asset_class\":\"STK\",\"currency\":\"%s\",\"quantity\":-1}]}\n", $1, $2, $4
}' "$work/drop/positions.csv" >"$work/many.txt"
for case in held option many; do
  export BODIES="$work/$case.txt"
  for delay in 0 128; do
    echo "== $case ($(wc -l <"$BODIES") bodies, e.g. $(head -c 160 "$BODIES")…), delay ${delay} ms per connection, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    DELAY_MS=$delay wrk -t2 -c64 -d"${seconds}s" --latency -s benches/serve/post.lua http://127.0.0.1:18080/v1/what-if
  done
done
echo "server memory (VmHWM / VmRSS):"; grep -E "VmHWM|VmRSS" /proc/$server/status
curl -s -H "Authorization: Bearer $EXFEE_TOKEN" http://127.0.0.1:18080/metrics |
  grep -E "^exfee_(leg_cache|account_cache|what_if_answers)" || true
