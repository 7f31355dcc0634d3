#!/usr/bin/env bash
# Load benchmark of `exfee serve` (docs/performance.md): a synthetic batch,
# the service on loopback, wrk at 64 connections on a held-instrument order
# and on a new-instrument option order. Usage:
#   benches/serve/run.sh [ACCOUNTS] [SECONDS]     (default 20000 accounts, 30 s)
# Needs a release build (cargo build --release) and wrk (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/../.."
accounts=${1:-20000}
seconds=${2:-30}
bin=${EXFEE_BIN:-target/release/exfee}
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
"$bin" synth --accounts "$accounts" --seed 1 --date 2026-11-20 --out "$work/drop" -q
export EXFEE_TOKEN=bench-token-0123456789abcdef
start=$(date +%s.%N)
"$bin" serve "$work/drop" --date 2026-11-20 --listen 127.0.0.1:18080 --timeout 60 2>"$work/serve.log" &
server=$!
until curl -sf http://127.0.0.1:18080/healthz >/dev/null; do sleep 0.2; done
echo "first answer after $(echo "$(date +%s.%N) - $start" | bc) s"
grep -E "evaluated" "$work/serve.log" || true
# The first account of the drop and its first stock (a held instrument).
account=$(sed -n 2p "$work/drop/accounts.csv" | cut -d, -f1)
header=$(head -1 "$work/drop/positions.csv")
col() { echo "$header" | tr , '\n' | grep -nx "$1" | cut -d: -f1; }
held=$(awk -F, -v a="$account" -v m="$(col mark)" '$1 == a && $3 == "STK" { print $2 "," $4 "," int($m); exit }' "$work/drop/positions.csv")
IFS=, read -r symbol currency strike <<<"$held"
export BODY="{\"account\":\"$account\",\"orders\":[{\"symbol\":\"$symbol\",\"asset_class\":\"STK\",\"currency\":\"$currency\",\"quantity\":-1}]}"
echo "held instrument: $BODY"
wrk -t2 -c64 -d"${seconds}s" --latency -s benches/serve/post.lua http://127.0.0.1:18080/v1/what-if
# An option on a listed underlying (market/underlyings.csv), new to the account.
IFS=, read -r symbol currency strike <<<"$(awk -F, 'NR == 2 { print $1 "," $2 "," int($3); exit }' "$work/drop/market/underlyings.csv")"
export BODY="{\"account\":\"$account\",\"orders\":[{\"symbol\":\"$symbol 270115C$strike\",\"asset_class\":\"OPT\",\"currency\":\"$currency\",\"quantity\":1,\"price\":\"1.5\",\"multiplier\":100,\"underlying\":\"$symbol\",\"strike\":\"$strike\",\"expiry\":\"2027-01-15\",\"right\":\"C\"}]}"
echo "new instrument (option): $BODY"
wrk -t2 -c64 -d"${seconds}s" --latency -s benches/serve/post.lua http://127.0.0.1:18080/v1/what-if
echo "server memory (VmHWM / VmRSS):"; grep -E "VmHWM|VmRSS" /proc/$server/status
