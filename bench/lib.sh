# Shared by the bench/*.sh scripts (bash): build, a real sshd on 127.0.0.1,
# wall-clock timing, and medians. Source it from the repository root.

build=${BATON_BUILD_DIR:-build}

# Builds the named targets into $build (quietly unless it fails).
bench_build() {
  cmake -S . -B "$build" -G Ninja >/dev/null
  nice -n 10 cmake --build "$build" -j2 --target "$@" >"$build/bench-build.log" 2>&1 ||
    { cat "$build/bench-build.log" >&2; exit 1; }
}

# Starts bench_sshd (the tests' sshd fixture) with MaxStartups $2 (default
# 200: nothing dropped); its settings land in SSHD_* variables. $1: a dir.
start_sshd() {
  "$build/bench/bench_sshd" --max-startups "${2:-200}" >"$1/sshd.env" &
  sshd_pid=$!
  for _ in $(seq 1000); do grep -q '^READY$' "$1/sshd.env" 2>/dev/null && break; sleep 0.01; done
  grep -q '^READY$' "$1/sshd.env" || { echo "bench: sshd did not start" >&2; exit 1; }
  eval "$(grep '^SSHD_' "$1/sshd.env")"
}

stop_sshd() {
  if [ -n "${sshd_pid:-}" ]; then
    kill -TERM "$sshd_pid" 2>/dev/null || true
    wait "$sshd_pid" 2>/dev/null || true
    sshd_pid=
  fi
}

# Milliseconds (fractional) since the epoch, without forking.
now_ms() { local t=${EPOCHREALTIME/./}; echo "$((t / 1000)).$(printf '%03d' $((t % 1000)))"; }
ms_between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# TOML for n host entries h1..hn of site $1 on the bench sshd.
toml_hosts() {
  local site=$1 n=$2 i
  for i in $(seq "$n"); do
    printf '[sites.%s.hosts.h%d]\naddress = "%s"\nport = %s\nuser = "%s"\nidentity = "%s"\n\n' \
      "$site" "$i" "$SSHD_ADDRESS" "$SSHD_PORT" "$SSHD_USER" "$SSHD_IDENTITY"
  done
}

# Reads "tool: key=value ..." lines on stdin; prints per tool and key the
# median (min..max) of each numeric value, grouped by the `group` key when
# the lines have one.
medians() {
  /usr/bin/python3 -c '
import sys, statistics as st
rows = {}
order = []
for line in sys.stdin:
    if ":" not in line: continue
    tool, rest = line.split(":", 1)
    kv = dict(p.split("=", 1) for p in rest.split() if "=" in p)
    key = (kv.pop("group", ""), tool.strip())
    if key not in rows: order.append(key); rows[key] = {}
    for k, v in kv.items():
        try: rows[key].setdefault(k, []).append(float(v))
        except ValueError: pass
for key in order:
    g, tool = key
    cells = []
    for k, v in rows[key].items():
        cells.append("%s=%g (%g..%g)" % (k, st.median(v), min(v), max(v)) if len(v) > 1 else "%s=%g" % (k, v[0]))
    print("%-8s %s%s" % (tool + ":", (g + "  ") if g else "", "  ".join(cells)))
'
}
