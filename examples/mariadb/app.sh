#!/bin/sh
# The sandbox application's controls, as the runbook's app_* variables call
# them (sandbox.sh copies this file to DIR/app/). The application is
# writer.py: it runs all the time, like a client that retries; "stop" pauses
# it and "start" lets it go on, against whichever server takes writes.
#   app.sh stop    pause the writer; returns once it has no write in flight
#   app.sh start   let it write again
#   app.sh check   the application writes on the server $DB_HOST:$DB_PORT:
#                  new rows from the writer arrive within 10 s (if the writer
#                  is not running: the smoke test)
#   app.sh smoke   the application's smoke test on $DB_HOST:$DB_PORT: a write and a read
# It connects as the application's account (DIR/app/app.cnf). Fast on
# purpose: stop and start run while writes are blocked.
set -eu
D=$(dirname "$0")

writer_alive() {
  pid=$(cat "$D/writer.pid" 2>/dev/null) || return 1
  [ -r "/proc/$pid/stat" ] || return 1
  read -r st <"/proc/$pid/stat" || return 1
  st=${st##*) }
  [ "${st%% *}" != Z ]
}

db() {
  mariadb --defaults-file="$D/app.cnf" -h "${DB_HOST:?DB_HOST: the server to check}" -P "${DB_PORT:?DB_PORT}" \
    --connect-timeout=5 -NB appdb -e "$1"
}

smoke() {
  db "INSERT INTO app_smoke () VALUES ();
      SELECT CONCAT('smoke test ok on $DB_HOST:$DB_PORT: ', COUNT(*), ' rows in writer_probe') FROM writer_probe"
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
    m0=$(db "SELECT COALESCE(MAX(id), 0) FROM writer_probe")
    end=$(($(date +%s) + 10))
    while :; do
      m=$(db "SELECT COALESCE(MAX(id), 0) FROM writer_probe")
      [ "$m" -gt "$m0" ] && break
      [ "$(date +%s)" -le $end ] || { echo "no new rows from the writer within 10 s (max id $m)" >&2; exit 1; }
      sleep 0.005
    done
    echo "the application writes on $DB_HOST:$DB_PORT: max id $m0 -> $m" ;;
  smoke)
    smoke ;;
  *)
    echo "usage: app.sh stop|start|check|smoke" >&2; exit 2 ;;
esac
