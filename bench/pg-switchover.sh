#!/usr/bin/env bash
# PostgreSQL 15 planned switchover: Baton against the hand procedure, side by
# side in one run, under the same writer (../shared/peers/writer.py, which
# records every acknowledged commit); with --peers also repmgr and
# pg_auto_failover (../shared/peers/repmgr-switchover.sh and
# pgautofailover-switchover.sh), each round running every tool once. Prints
# one line per run in the peers' format, then one table of medians:
#   hand:  write_gap_ms=.. switchover_ms=.. rejoin_ms=.. acked=.. lost=..
#   baton: write_gap_ms=.. switchover_ms=.. rejoin_ms=.. acked=.. lost=.. total_ms=..
# For Baton, switchover_ms runs from the command's start to the first write
# the new primary acknowledged; rejoin_ms is its reverse_sync phase; total_ms
# the whole command (preflight to the old primary streaming again). For the
# peers, switchover_ms is how long their command runs (rejoin included).
#   bench/pg-switchover.sh [--peers] [ROUNDS]   (default 3; as root: the peers' scripts need it)
# BATON: measure that baton binary instead of building this checkout.
# PEERS: where the peers' scripts are (default ../shared/peers from the
# repository root); they are run from there, never copied.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
peers=${PEERS:-$root/../shared/peers}
with_peers=0
if [ "${1:-}" = --peers ]; then with_peers=1; shift; fi
rounds=${1:-3}
py=/usr/bin/python3
[ -x "$peers/hand-switchover.sh" ] || { echo "bench: $peers/hand-switchover.sh not found (set PEERS)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "bench: run as root (the hand procedure's script needs it)" >&2; exit 1; }
# BATON: a baton binary to measure instead of building this checkout's
# (to compare two versions in turn on the same machine).
if [ -n "${BATON:-}" ]; then baton=$BATON
else ./scripts/build.sh baton >/dev/null; baton=$root/build/baton; fi
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

# The peers' scripts lock this file; a daemon one of them started may hold it
# (and the CPU) a moment after the script exits: wait, so no run fails on it
# or shares the machine with the last one's leftovers.
peer_lock=/run/lock/peer-switchover.lock
settle() {
  [ -e "$peer_lock" ] || return 0
  flock -w 60 "$peer_lock" true || echo "bench: could not take $peer_lock within 60 s (flock exit $?); running anyway" >&2
}

# One peer script, run from its folder; its summary line (or a note on stderr).
peer_round() {  # $1: script, $2: tag
  local out
  settle
  out=$( (cd "$peers" && DRYRUN_OUT="$work/repmgr-dry-run.txt" "./$1" "$work") 2>"$work/$2.err" | grep "^$2:" ) ||
    { echo "bench: $1 failed (its stderr: $work/$2.err):" >&2; tail -5 "$work/$2.err" >&2; return 0; }
  echo "$out"
}

lines=()
for r in $(seq "$rounds"); do
  h=$(peer_round hand-switchover.sh hand)  # a failed round is named, the others still count
  [ -n "$h" ] && { echo "$h"; lines+=("$h"); }
  settle
  b=$(baton_round)
  echo "$b"; lines+=("$b")
  if [ "$with_peers" = 1 ]; then
    for p in repmgr-switchover.sh:repmgr pgautofailover-switchover.sh:pgautofailover; do
      l=$(peer_round "${p%%:*}" "${p##*:}")
      [ -n "$l" ] && { echo "$l"; lines+=("$l"); }
    done
  fi
done

printf '%s\n' "${lines[@]}" | "$py" -c '
import sys, statistics as st
rows = {}
for line in sys.stdin:
    tool, rest = line.split(":", 1)
    for kv in rest.split():
        k, v = kv.split("=")
        if v and v != "NA": rows.setdefault(tool, {}).setdefault(k, []).append(float(v))
def cell(r, k):
    v = r.get(k)
    if not v: return "included" if k == "rejoin_ms" else "n/a"
    return "%g (%g..%g)" % (st.median(v), min(v), max(v)) if len(v) > 1 else "%g" % v[0]
print()
print("| tool | runs | write gap ms | switchover ms | rejoin ms | acked | lost |")
print("|---|---|---|---|---|---|---|")
names = {"hand": "hand", "baton": "baton", "repmgr": "repmgr", "pgautofailover": "pg_auto_failover"}
for tool, r in rows.items():
    print("| %s | %d | %s | %s | %s | %s | %d |" % (names.get(tool, tool), len(r["write_gap_ms"]), cell(r, "write_gap_ms"),
          cell(r, "switchover_ms"), cell(r, "rejoin_ms"), cell(r, "acked"), sum(r.get("lost", [0]))))
h, b = rows["hand"], rows["baton"]
gap = st.median(b["write_gap_ms"]) / st.median(h["write_gap_ms"])
print()
print("switchover ms: for hand, repmgr and pg_auto_failover how long their procedure ran; for baton from the start of the command")
print("(preflight and connecting included) to the first write the new primary acknowledged")
print()
print("write gap baton/hand: %.3f (target <= 1.2)  %s" % (gap, "met" if gap <= 1.2 else "ABOVE TARGET"))
w = st.median(b["switchover_ms"])
print("baton to a writable new primary: %g ms from the command start (target <= 250)  %s" % (w, "met" if w <= 250 else "ABOVE TARGET"))
print("baton whole command (to the old primary streaming again): %g ms" % st.median(b["total_ms"]))
'
