#!/usr/bin/env bash
# The night with and without reports, two builds side by side (issue 16's
# 1.2x line): `exfee run` on a drop, interleaved old/new and with/without
# reports, each run into a fresh output folder, `sync` and a pause between
# runs, so that neither build meets the other's page cache or dirty pages.
#
#   benches/night-ab.sh OLD_EXFEE NEW_EXFEE [ROUNDS] [DROP] [DATE]
#
# OLD_EXFEE, NEW_EXFEE: two `exfee` binaries (e.g. a release build of main
# copied aside, and ./target/release/exfee). ROUNDS: default 3. DROP: default
# /tmp/s100k (make it with `exfee synth --accounts 100000 --date 2026-11-20
# --out /tmp/s100k`). DATE: default 2026-11-20. Extra variables for both
# builds go in the environment (e.g. EXFEE_SIMD=avx2).
#
# Prints one line per run (wall, user and system seconds, the load average
# before it), per round and build, the ratio of the night with reports to
# the night without, and at the end each build's ratio of the means. The
# output folders are kept under $OUT (default a new folder in /tmp): delete
# them when done, not between runs — on ext4 without a journal, creating
# files soon after deleting many is slower, which would bias the next runs
# (docs/performance.md, "The report files' page cache" and "The reports
# stage against its floor, once more").
set -euo pipefail

if [ $# -lt 2 ]; then
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
old=$1
new=$2
rounds=${3:-3}
drop=${4:-/tmp/s100k}
date=${5:-2026-11-20}
for bin in "$old" "$new"; do
    [ -x "$bin" ] || { echo "not an executable: $bin" >&2; exit 2; }
done
[ -d "$drop" ] || { echo "no drop at $drop (exfee synth --accounts 100000 --date $date --out $drop)" >&2; exit 2; }
out=${OUT:-$(mktemp -d /tmp/night-ab.XXXXXX)}
mkdir -p "$out"
echo "outputs under $out"

TIMEFORMAT='%R %U %S'
declare -A wall
for r in $(seq 1 "$rounds"); do
    for mode in rep nr; do
        for which in old new; do
            bin=$old
            [ "$which" = new ] && bin=$new
            flags=()
            [ "$mode" = nr ] && flags=(--no-reports)
            dir="$out/$r-$which-$mode"
            sync
            sleep 5
            read -r load _ </proc/loadavg
            # `time` of the run alone: its output goes to a log beside it.
            if ! times=$( { time "$bin" run "$drop" --out "$dir" --date "$date" "${flags[@]}" \
                >"$dir.log" 2>&1; } 2>&1 ); then
                echo "run $r $which $mode failed: see $dir.log" >&2
                exit 1
            fi
            read -r real user sys <<<"$times"
            wall[$r-$which-$mode]=$real
            printf '%s %-3s %-3s load %-5s %7.3f s wall %7.3f s user %6.3f s sys\n' \
                "$r" "$which" "$mode" "$load" "$real" "$user" "$sys"
        done
    done
    for which in old new; do
        awk -v r="$r" -v w="$which" -v a="${wall[$r-$which-rep]}" -v b="${wall[$r-$which-nr]}" \
            'BEGIN { printf "%s %-3s ratio %.3f (%.3f / %.3f s)\n", r, w, a / b, a, b }'
    done
done
# Over all rounds, per build: the mean night with reports over the mean
# night without (what docs/performance.md reports as a build's ratio).
for which in old new; do
    for r in $(seq 1 "$rounds"); do
        echo "${wall[$r-$which-rep]} ${wall[$r-$which-nr]}"
    done | awk -v w="$which" '{ a += $1; b += $2; n++ }
        END { printf "all %-3s ratio %.3f (mean %.3f / %.3f s over %d rounds)\n", w, a / b, a / n, b / n, n }'
done
