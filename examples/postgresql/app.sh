#!/bin/sh
# The sandbox application's controls, as the runbook's app_* variables call
# them (sandbox.sh copies this file to DIR/app/). The application is
# writer.py: it runs all the time, like a client that retries; "stop" pauses
# it and "start" lets it go on, against whichever server accepts writes.
#   app.sh stop    pause the writer; returns once it has no write in flight
#   app.sh start   let it write again
#   app.sh check   the application writes on this server ($PGHOST/$PGPORT):
#                  new rows from the writer arrive within 10 s (if the writer
#                  is not running: the smoke test)
#   app.sh smoke   the application's smoke test: a write and a read
# Fast on purpose: stop and start run while writes are blocked.
set -eu
D=$(dirname "$0")
psql="${pgbin:-/usr/lib/postgresql/15/bin}/psql"

writer_alive() {
  pid=$(cat "$D/writer.pid" 2>/dev/null) || return 1
  [ -r "/proc/$pid/stat" ] || return 1
  read -r st <"/proc/$pid/stat" || return 1
  h=${st%')'*}
  st=${st#"$h) "}
  [ "${st%% *}" != Z ]
}

smoke() {
  "$psql" -XAtq -v ON_ERROR_STOP=1 -c "INSERT INTO app_smoke DEFAULT VALUES" \
    -c "SELECT 'smoke test ok: ' || count(*) || ' rows in writer_probe' FROM writer_probe"
}

case ${1:-} in
  stop)
    : >"$D/stop"
    writer_alive || exit 0
    i=0
    until [ -e "$D/paused" ]; do
      i=$((i + 1))
      [ $i -le 2500 ] || { echo "the writer did not pause within 5 s" >&2; exit 1; }
      sleep 0.002
    done ;;
  start)
    rm -f "$D/stop" ;;
  check)
    if ! writer_alive; then echo "writer not running; smoke test instead"; smoke; exit; fi
    m0=$("$psql" -XAtc "SELECT coalesce(max(id), 0) FROM writer_probe")
    end=$(($(date +%s) + 10))
    while :; do
      m=$("$psql" -XAtc "SELECT coalesce(max(id), 0) FROM writer_probe")
      [ "$m" -gt "$m0" ] && break
      [ "$(date +%s)" -le $end ] || { echo "no new rows from the writer within 10 s (max id $m)" >&2; exit 1; }
      sleep 0.005
    done
    echo "the application writes here: max id $m0 -> $m" ;;
  smoke)
    smoke ;;
  *)
    echo "usage: app.sh stop|start|check|smoke" >&2; exit 2 ;;
esac
