#!/usr/bin/env bash
# N trivial tasks on 1 and on 32 hosts: ansible-playbook (Debian's
# ansible-core: pipelining on, ControlPersist on, gather_facts: false, forks =
# the number of hosts) against Baton with the same steps (`run = "true"`),
# side by side in one run. Each tool also runs 1 task, so the per-step cost
# is the marginal one, (T(N) - T(1)) / (N - 1): start-up and connecting are
# left out for both. The hosts are entries on one loopback sshd (MaxStartups
# 200); each Ansible host gets its own ControlPath, as real hosts would, and
# the control masters are closed after every run, so each run connects anew,
# as Baton's does.
#   bench/ansible.sh [--rounds N] [--tasks N] [--hosts "1 32"]
# Needs ansible-playbook (apt-get install ansible-core).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
rounds=3
tasks=10
sizes="1 32"
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --tasks) tasks=$2; shift 2 ;;
    --hosts) sizes=$2; shift 2 ;;
    *) echo "usage: bench/ansible.sh [--rounds N] [--tasks N] [--hosts \"1 32\"]" >&2; exit 2 ;;
  esac
done
[ "$tasks" -ge 2 ] || { echo "bench: --tasks must be at least 2" >&2; exit 2; }
command -v ansible-playbook >/dev/null || { echo "bench: ansible-playbook not found (apt-get install ansible-core)" >&2; exit 1; }
bench_build baton bench_sshd
baton=$build/baton
work=$(mktemp -d /tmp/baton-ansible.XXXXXX)
close_masters() {
  local s
  for s in "$work"/cp/*; do
    [ -S "$s" ] && ssh -o ControlPath="$s" -O exit dummy >/dev/null 2>&1 || true
  done
}
trap 'close_masters; stop_sshd; rm -rf "$work"' EXIT
start_sshd "$work" 200
echo "$SSHD_KNOWN_HOSTS_LINE" >"$work/known_hosts"
mkdir -p "$work/cp" "$work/tmp"
export ANSIBLE_CONFIG=$work/ansible.cfg ANSIBLE_LOCAL_TEMP=$work/tmp
cat >"$ANSIBLE_CONFIG" <<CFG
[defaults]
host_key_checking = True
gathering = explicit
interpreter_python = /usr/bin/python3
retry_files_enabled = False
stdout_callback = default
[ssh_connection]
pipelining = True
control_path_dir = $work/cp
ssh_args = -C -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=$work/known_hosts -o StrictHostKeyChecking=yes
CFG

inventory() {  # $1: hosts
  local i
  echo "[dr]"
  for i in $(seq "$1"); do
    echo "h$i ansible_host=$SSHD_ADDRESS ansible_port=$SSHD_PORT ansible_user=$SSHD_USER ansible_ssh_private_key_file=$SSHD_IDENTITY ansible_control_path=%(directory)s/h$i"
  done
} 
playbook() {  # $1: tasks
  local i
  printf -- '- hosts: all\n  gather_facts: false\n  tasks:\n'
  for i in $(seq "$1"); do printf '    - name: step %d\n      ansible.builtin.command: "true"\n' "$i"; done
}
runbook() {  # $1: hosts, $2: steps
  local i
  printf '[runbook]\nname = "ansible-bench"\n\n'
  toml_hosts main 1
  toml_hosts dr "$1"
  printf '[replication]\nsource = "main"\ntarget = "dr"\n\n[ssh]\nknown_hosts = "%s"\n' "$work/known_hosts"
  for i in $(seq "$2"); do printf '\n[[step]]\nid = "step-%d"\nphase = "promote"\non = "target"\nrun = "true"\n' "$i"; done
}
for n in $sizes; do
  inventory "$n" >"$work/hosts-$n.ini"
  for k in 1 "$tasks"; do runbook "$n" "$k" >"$work/rb-$n-$k.toml"; done
done
for k in 1 "$tasks"; do playbook "$k" >"$work/play-$k.yml"; done

time_ansible() {  # $1: hosts, $2: tasks
  local t0 t1 run
  run=$(mktemp -d "$work/run.XXXXXX")  # fresh state: roles start as main -> dr (subshells: no counter)
  t0=$(now_ms)
  ansible-playbook -i "$work/hosts-$1.ini" -f "$1" "$work/play-$2.yml" >"$run/ansible.log" 2>&1 ||
    { echo "bench: ansible-playbook failed:" >&2; tail -30 "$run/ansible.log" >&2; exit 1; }
  t1=$(now_ms)
  close_masters
  echo "ansible: group=hosts=$1,steps=$2 ms=$(ms_between "$t0" "$t1")"
}
time_baton() {  # $1: hosts, $2: steps
  local t0 t1 run
  run=$(mktemp -d "$work/run.XXXXXX")  # fresh state: roles start as main -> dr (subshells: no counter)
  t0=$(now_ms)
  "$baton" switchover "$work/rb-$1-$2.toml" --state-dir "$run/state" --json >"$run/baton.jsonl" 2>"$run/baton.err" ||
    { echo "bench: baton failed:" >&2; cat "$run/baton.err" >&2; exit 1; }
  t1=$(now_ms)
  local ok
  ok=$(grep -c '"event":"step_finished".*"status":"ok"' "$run/baton.jsonl" || true)
  [ "$ok" = "$(($1 * $2))" ] || { echo "bench: baton ran $ok steps, not $(($1 * $2)) (see $run)" >&2; exit 1; }
  echo "baton: group=hosts=$1,steps=$2 ms=$(ms_between "$t0" "$t1")"
}

echo "ansible: $(ansible-playbook --version | head -1); $tasks trivial tasks vs 1, on hosts: $sizes (entries on one sshd, 127.0.0.1:$SSHD_PORT), $rounds rounds"
lines=()
for n in $sizes; do
  time_ansible "$n" 1 >/dev/null; time_baton "$n" 1 >/dev/null  # warm-up
  for r in $(seq "$rounds"); do
    for k in 1 "$tasks"; do
      if [ $((r % 2)) = 1 ]; then a=$(time_ansible "$n" "$k"); b=$(time_baton "$n" "$k"); else b=$(time_baton "$n" "$k"); a=$(time_ansible "$n" "$k"); fi
      echo "$a"; echo "$b"; lines+=("$a" "$b")
    done
  done
done
echo
printf '%s\n' "${lines[@]}" | medians
printf '%s\n' "${lines[@]}" | TASKS=$tasks /usr/bin/python3 -c '
import os, sys, statistics as st
n = int(os.environ["TASKS"])
ms = {}
for line in sys.stdin:
    tool, rest = line.split(":", 1)
    kv = dict(p.split("=", 1) for p in rest.split())
    hosts, steps = (x.split("=")[1] for x in kv["group"].split(","))
    ms.setdefault(hosts, {}).setdefault(tool.strip(), {}).setdefault(int(steps), []).append(float(kv["ms"]))
print()
for hosts, tools in ms.items():
    per = {}
    for tool, by in tools.items():
        t1, tn = st.median(by[1]), st.median(by[n])
        per[tool] = (tn - t1) / (n - 1)
        print("%-8s hosts=%s  %d steps %.0f ms, 1 step %.0f ms  per step %.1f ms (marginal), %.1f ms (average)" %
              (tool + ":", hosts, n, tn, t1, per[tool], tn / n))
    r = per["ansible"] / per["baton"] if per["baton"] > 0 else float("inf")
    print("per step (one task on every host), ansible/baton, %s hosts: %.1fx  (target >= 50)  %s" % (hosts, r, "met" if r >= 50 else "BELOW TARGET"))
'
