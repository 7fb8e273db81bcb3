#!/usr/bin/env bash
# PostgreSQL 15 planned switchover: Baton against the hand procedure, side by
# side in one run, under the same writer (../shared/peers/writer.py, which
# records every acknowledged commit). Prints one line per run in the peers'
# format, then the medians:
#   hand:  write_gap_ms=.. switchover_ms=.. rejoin_ms=.. acked=.. lost=..
#   baton: write_gap_ms=.. switchover_ms=.. rejoin_ms=.. acked=.. lost=.. total_ms=..
# For Baton, switchover_ms runs from the command's start to the first write
# the new primary acknowledged; rejoin_ms is its reverse_sync phase; total_ms
# the whole command (preflight to the old primary streaming again).
#   bench/pg-switchover.sh [ROUNDS]      (default 3; as root: the hand script needs it)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
peers=${PEERS:-$root/../shared/peers}
rounds=${1:-3}
py=/usr/bin/python3
[ -x "$peers/hand-switchover.sh" ] || { echo "bench: $peers/hand-switchover.sh not found (set PEERS)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "bench: run as root (the hand procedure's script needs it)" >&2; exit 1; }
./scripts/build.sh >/dev/null
baton=$root/build/baton
sandbox=$root/examples/postgresql/sandbox.sh
work=$(mktemp -d /tmp/baton-pg-bench.XXXXXX)
chmod 755 "$work"
trap '"$sandbox" down "$work/sb" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
now_ms() { date +%s%3N; }
field() { "$py" -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], ""))' "$1" "$2"; }

baton_round() {
  local sb=$work/sb
  "$sandbox" up "$sb" >/dev/null 2>&1
  # shellcheck disable=SC1091
  . "$sb/env"
  "$py" "$peers/writer.py" --host 127.0.0.1 --ports "$MAIN_PGPORT,$DR_PGPORT" --db postgres \
    --acked "$work/acked" --summary "$work/summary.json" --ready "$work/ready" >/dev/null 2>&1 &
  local writer=$!
  for _ in $(seq 500); do [ -e "$work/ready" ] && break; sleep 0.01; done
  sleep "${WARMUP_S:-1}"
  local t0 t1
  t0=$(now_ms)
  "$baton" switchover "$RUNBOOK" --state-dir "$STATE_DIR" --json >"$work/events.jsonl"
  t1=$(now_ms)
  sleep 0.5
  kill -TERM "$writer"; wait "$writer" || true
  # Acknowledged ids missing on the new primary (dr).
  "$sandbox" psql "$sb" dr -XAtc "select id from writer_probe" | sort -n >"$work/have"
  sort -n "$work/acked" >"$work/acked.sorted"
  local lost first_new rejoin
  lost=$(comm -23 "$work/acked.sorted" "$work/have" | wc -l)
  first_new=$(field "$work/summary.json" first_new_ack_ns)
  rejoin=$("$py" - "$work/events.jsonl" <<'PY'
import json, sys
t = {}
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event"] == "phase_entered" and e.get("phase") == "reverse_sync": t["a"] = e["time_ms"]
    if e["event"] == "run_finished": t["b"] = e["time_ms"]
print(t["b"] - t["a"] if len(t) == 2 else "")
PY
)
  echo "baton: write_gap_ms=$(field "$work/summary.json" write_gap_ms)" \
    "switchover_ms=$(( ${first_new:-0} / 1000000 - t0 ))" "rejoin_ms=$rejoin" \
    "acked=$(field "$work/summary.json" acked) lost=$lost total_ms=$((t1 - t0))"
  "$sandbox" down "$sb" >/dev/null 2>&1
  rm -f "$work/ready" "$work/acked" "$work/summary.json"
}

lines=()
for r in $(seq "$rounds"); do
  h=$( (cd "$peers" && ./hand-switchover.sh "$work") 2>/dev/null | grep '^hand:' )
  echo "$h"; lines+=("$h")
  b=$(baton_round)
  echo "$b"; lines+=("$b")
done

printf '%s\n' "${lines[@]}" | "$py" -c '
import sys, statistics as st
rows = {}
for line in sys.stdin:
    tool, rest = line.split(":", 1)
    for kv in rest.split():
        k, v = kv.split("=")
        if v: rows.setdefault(tool, {}).setdefault(k, []).append(float(v))
print()
for tool, r in rows.items():
    print("%-6s median: " % tool + "  ".join("%s=%g" % (k, st.median(v)) for k, v in r.items()))
h, b = rows["hand"], rows["baton"]
print("write gap baton/hand: %.2f (target <= 1.5)" % (st.median(b["write_gap_ms"]) / st.median(h["write_gap_ms"])))
print("baton to a writable new primary: %g ms (target < 1000)" % st.median(b["switchover_ms"]))
print("lost: hand %d, baton %d" % (sum(h["lost"]), sum(b["lost"])))
'
