#!/usr/bin/env bash
# One trivial step on 1, 8 and 32 hosts: Baton's whole run (`baton switchover
# --json`, fork to exit) against a plain libssh program (bench/fanout_plain)
# that connects to the same hosts in parallel threads and runs the same
# command. The hosts are entries on one loopback sshd with MaxStartups raised
# (200), so nothing is dropped. Rounds alternate which tool goes first; one
# warm-up round is not counted.
#   bench/fanout.sh [--rounds N] [--hosts "1 8 32"]
# Prints one line per run, then medians and the ratio baton/plain per size:
#   baton: group=hosts=32 ms=..
#   plain: group=hosts=32 ms=..
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
rounds=5
sizes="1 8 32"
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --hosts) sizes=$2; shift 2 ;;
    *) echo "usage: bench/fanout.sh [--rounds N] [--hosts \"1 8 32\"]" >&2; exit 2 ;;
  esac
done
bench_build baton bench_sshd fanout_plain
baton=$build/baton
work=$(mktemp -d /tmp/baton-fanout.XXXXXX)
trap 'stop_sshd; rm -rf "$work"' EXIT
start_sshd "$work" 200
echo "$SSHD_KNOWN_HOSTS_LINE" >"$work/known_hosts"

runbook() {  # $1: hosts in site dr
  {
    printf '[runbook]\nname = "fanout"\n\n'
    toml_hosts main 1
    toml_hosts dr "$1"
    printf '[replication]\nsource = "main"\ntarget = "dr"\n\n[ssh]\nknown_hosts = "%s"\n\n' "$work/known_hosts"
    printf '[[step]]\nid = "trivial"\nphase = "promote"\non = "target"\nrun = "true"\n'
  } >"$work/fanout-$1.toml"
}

time_baton() {  # $1: hosts
  local t0 t1 run
  run=$(mktemp -d "$work/run.XXXXXX")  # fresh state: roles start as main -> dr (subshells: no counter)
  t0=$(now_ms)
  "$baton" switchover "$work/fanout-$1.toml" --state-dir "$run/state" --json >"$run/baton.jsonl" 2>"$run/baton.err" ||
    { echo "bench: baton failed:" >&2; cat "$run/baton.err" >&2; exit 1; }
  t1=$(now_ms)
  local ok
  ok=$(grep -c '"event":"step_finished".*"status":"ok"' "$run/baton.jsonl" || true)
  [ "$ok" = "$1" ] || { echo "bench: baton ran $ok steps, not $1 (see $run)" >&2; exit 1; }
  echo "baton: group=hosts=$1 ms=$(ms_between "$t0" "$t1")"
}
time_plain() {  # $1: hosts
  local t0 t1
  t0=$(now_ms)
  "$build/bench/fanout_plain" --hosts "$1" --address "$SSHD_ADDRESS" --port "$SSHD_PORT" --user "$SSHD_USER" \
    --identity "$SSHD_IDENTITY" --known-hosts "$work/known_hosts" --command true
  t1=$(now_ms)
  echo "plain: group=hosts=$1 ms=$(ms_between "$t0" "$t1")"
}

echo "fanout: one step of \`true\` on N hosts (entries on one sshd, 127.0.0.1:$SSHD_PORT, MaxStartups 200), $rounds rounds"
lines=()
for n in $sizes; do
  runbook "$n"
  time_baton "$n" >/dev/null; time_plain "$n" >/dev/null  # warm-up
  for r in $(seq "$rounds"); do
    if [ $((r % 2)) = 1 ]; then a=$(time_baton "$n"); b=$(time_plain "$n"); else b=$(time_plain "$n"); a=$(time_baton "$n"); fi
    echo "$a"; echo "$b"; lines+=("$a" "$b")
  done
done
echo
printf '%s\n' "${lines[@]}" | medians
printf '%s\n' "${lines[@]}" | /usr/bin/python3 -c '
import sys, statistics as st
ms = {}
for line in sys.stdin:
    tool, rest = line.split(":", 1)
    kv = dict(p.split("=", 1) for p in rest.split())
    ms.setdefault(kv["group"], {}).setdefault(tool, []).append(float(kv["ms"]))
for g, t in ms.items():
    r = st.median(t["baton"]) / st.median(t["plain"])
    target = "  (target at 32 hosts: <= 1.2)" if g == "hosts=32" else ""
    verdict = ("  met" if r <= 1.2 else "  ABOVE TARGET") if g == "hosts=32" else ""
    print("ratio baton/plain, %s: %.3f%s%s" % (g, r, target, verdict))
'
