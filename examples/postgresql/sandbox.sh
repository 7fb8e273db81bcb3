#!/usr/bin/env bash
# Two PostgreSQL 15 "sites" on one machine, for Baton's PostgreSQL example.
#
#   sandbox.sh up DIR            build and start everything under DIR (must not exist)
#   sandbox.sh down DIR          stop everything by pid, remove DIR (idempotent)
#   sandbox.sh status DIR        what runs, who is primary, who streams
#   sandbox.sh writer-start DIR  start the demo application (writer.py)
#   sandbox.sh writer-stop DIR   stop it; print its summary and the acked ids
#                                missing on the current primary ("lost")
#   sandbox.sh psql DIR SITE [psql args]   a psql on site main or dr
#   sandbox.sh pg-start DIR SITE  start SITE's PostgreSQL as it is (tests)
#   sandbox.sh pg-stop DIR SITE   stop it (fast, then harder)
#
# Site "main": PostgreSQL on 127.0.0.1:P1, sshd on 127.0.0.1:S1.
# Site "dr":   PostgreSQL on 127.0.0.2:P2, sshd on 127.0.0.2:S2 (a streaming standby);
#              it also listens on 127.0.0.1:P2, so a client that knows one host and
#              two ports (as ../shared/peers/writer.py does) reaches both sites.
# Each site has its own data dir, socket dir and sshd with its own host key;
# one user key and a known_hosts file with both. Everything listens on
# loopback only, on ports that are free when `up` runs.
#
# As root, PostgreSQL and the SSH logins run as the user "batonpg" (created
# if missing); as an ordinary user, as that user. Baton runs as the caller.
# DIR/runbook.toml is this sandbox's header plus the steps of runbook.toml
# beside this script; DIR/env is a sourceable file with everything's address.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
SSHD=${SSHD:-/usr/sbin/sshd}
# Debian's python3 has python3-psycopg2; a pyenv or venv python may not.
PY=${PYTHON:-$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || command -v python3)}
SANDBOX_USER=${SANDBOX_USER:-batonpg}
MARK=.baton-postgresql-sandbox

log() { printf 'sandbox: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

[ $# -ge 2 ] || usage
cmd=$1 DIR=$(realpath -m -- "$2")
shift 2

# The OS user PostgreSQL and the SSH logins run as.
if [ "$(id -u)" = 0 ]; then PGOS=$SANDBOX_USER; else PGOS=$(id -un); fi
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u "$PGOS" -- "$@"; else "$@"; fi; }

ensure_user() {
  [ "$(id -u)" = 0 ] || return 0
  if ! getent passwd "$PGOS" >/dev/null; then
    # "*", not useradd's "!": sshd with UsePAM no refuses locked accounts.
    useradd -m -s /bin/sh -p '*' "$PGOS" 2>/dev/null || getent passwd "$PGOS" >/dev/null ||
      die "cannot create user $PGOS"
  fi
  local shell pw
  shell=$(getent passwd "$PGOS" | cut -d: -f7)
  pw=$(getent shadow "$PGOS" | cut -d: -f2)
  if [ "$shell" != /bin/sh ] || [ "${pw:0:1}" = '!' ]; then usermod -s /bin/sh -p '*' "$PGOS"; fi
  local home; home=$(getent passwd "$PGOS" | cut -d: -f6)
  [ -d "$home" ] || install -d -o "$PGOS" -g "$(id -gn "$PGOS")" "$home"
}

# Free ports: one port free on both 127.0.0.1 and 127.0.0.2 (PostgreSQL and
# the drill clone), and one sshd port per address.
pick_ports() {
  "$PY" - <<'PY'
import random, socket
def free(addr, port):
    s = socket.socket()
    try:
        s.bind((addr, port)); return True
    except OSError:
        return False
    finally:
        s.close()
taken = set()
def pick(addrs):
    for _ in range(500):
        p = random.randint(20000, 60000)
        if p not in taken and all(free(a, p) for a in addrs):
            taken.add(p); return p
    raise SystemExit("no free port")
print(pick(["127.0.0.1"]), pick(["127.0.0.1", "127.0.0.2"]), pick(["127.0.0.1", "127.0.0.2"]),
      pick(["127.0.0.1"]), pick(["127.0.0.2"]))
PY
}

# pg_alive PID: a live, non-zombie process (pid 1 may reap orphans late here).
pg_alive() {
  local st
  [ -r "/proc/$1/stat" ] || return 1
  st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}

# pg_stop DATADIR: fast shutdown by pid, then immediate, then SIGKILL; also
# reaps backends left behind by a killed postmaster (their cwd is DATADIR).
pg_stop() {
  local d=$1 pid i p
  [ -d "$d" ] || return 0
  d=$(cd "$d" && pwd -P)
  pid=$(head -1 "$d/postmaster.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && pg_alive "$pid" && [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$d" ]; then
    kill -INT "$pid" 2>/dev/null || true
    for i in $(seq 500); do pg_alive "$pid" || break; sleep 0.01; done
    pg_alive "$pid" && { kill -QUIT "$pid" 2>/dev/null || true; sleep 1; }
    pg_alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
  fi
  for i in $(seq 100); do
    p=$(procs_in "$d")
    [ -z "$p" ] && return 0
    [ "$i" -gt 50 ] && kill -KILL $p 2>/dev/null || true
    sleep 0.05
  done
}

# procs_in DIR: pids of postgres processes whose working directory is DIR or below.
procs_in() {
  local l pid
  find /proc -mindepth 2 -maxdepth 2 -name cwd \( -lname "$1" -o -lname "$1/*" \) 2>/dev/null |
    while read -r l; do
      pid=${l#/proc/}; pid=${pid%/cwd}
      [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = postgres ] && pg_alive "$pid" && echo "$pid"
    done || true
}

pgconf() {  # pgconf DATADIR ADDRESSES SOCKDIR PORT
  # One block per host, at the end of postgresql.conf; Baton's rejoin keeps it.
  sed -i '/^# --- this host (sandbox) ---$/,$d' "$1/postgresql.conf"
  cat >>"$1/postgresql.conf" <<EOF
# --- this host (sandbox) ---
listen_addresses = '$2'
unix_socket_directories = '$3'
port = $4
EOF
}

port_of() { if [ "$1" = main ]; then echo "$MAIN_PGPORT"; else echo "$DR_PGPORT"; fi; }

q() {  # q SITE SQL
  local site=$1; shift
  as_pg "$PGBIN/psql" -XAtq -h "$DIR/$site/sock" -p "$(port_of "$site")" -U postgres -d postgres -c "$*"
}

up() {
  [ ! -e "$DIR" ] || [ -z "$(ls -A "$DIR" 2>/dev/null)" ] || die "$DIR exists and is not empty"
  [ -x "$PGBIN/postgres" ] || die "PostgreSQL 15 not found in $PGBIN (apt-get install postgresql-15)"
  [ -x "$SSHD" ] || die "sshd not found (apt-get install openssh-server)"
  "$PY" -c 'import psycopg2' 2>/dev/null || die "$PY lacks psycopg2 (apt-get install python3-psycopg2)"
  ensure_user
  mkdir -p "$DIR"
  DIR=$(cd "$DIR" && pwd -P)
  touch "$DIR/$MARK"
  chmod 755 "$DIR"
  local g; g=$(id -gn "$PGOS")
  read -r MAIN_PGPORT DR_PGPORT DRILL_PORT SSH_MAIN SSH_DR <<<"$(pick_ports)"
  log "ports: postgresql $MAIN_PGPORT (main) and $DR_PGPORT (dr), sshd $SSH_MAIN (main) and $SSH_DR (dr), drill clone $DRILL_PORT"

  local s
  for s in main dr; do install -d -o "$PGOS" -g "$g" -m 755 "$DIR/$s" "$DIR/$s/sock"; done
  install -d -o "$PGOS" -g "$g" -m 755 "$DIR/app"
  install -d -m 755 "$DIR/ssh"
  install -d -m 700 "$DIR/state"
  cp "$HERE/app.sh" "$HERE/writer.py" "$DIR/app/"
  chmod 755 "$DIR/app/app.sh"

  # main: initdb, streaming-replication settings, the application's tables.
  as_pg "$PGBIN/initdb" -D "$DIR/main/data" -U postgres -A trust -E UTF8 --locale=C --no-sync \
    --no-instructions >"$DIR/main/initdb.log" 2>&1 || die "initdb failed (see $DIR/main/initdb.log)"
  cat >>"$DIR/main/data/postgresql.conf" <<EOF
# --- sandbox: both hosts ---
wal_level = replica
wal_log_hints = on                 # pg_rewind needs it (or data checksums)
hot_standby = on
max_wal_senders = 10
wal_keep_size = '256MB'
shared_buffers = '32MB'
max_connections = 40
log_line_prefix = '%m [%p] '
EOF
  cat >>"$DIR/main/data/pg_hba.conf" <<EOF
host all all 127.0.0.0/8 trust
host replication all 127.0.0.0/8 trust
EOF
  pgconf "$DIR/main/data" 127.0.0.1 "$DIR/main/sock" "$MAIN_PGPORT"
  as_pg "$PGBIN/pg_ctl" -D "$DIR/main/data" -l "$DIR/main/postgres.log" -w -t 60 start >/dev/null ||
    die "main did not start (see $DIR/main/postgres.log)"
  q main "CREATE TABLE writer_probe (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp());
          CREATE TABLE app_smoke (id serial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp());"

  # dr: a streaming standby, cloned from main.
  # It streams through the physical slot baton_dr (-C creates it on main).
  as_pg "$PGBIN/pg_basebackup" -d "host=127.0.0.1 port=$MAIN_PGPORT user=postgres application_name=dr" \
    -D "$DIR/dr/data" -R -C -S baton_dr -X stream -c fast --no-sync || die "pg_basebackup of dr failed"
  pgconf "$DIR/dr/data" 127.0.0.2,127.0.0.1 "$DIR/dr/sock" "$DR_PGPORT"
  as_pg "$PGBIN/pg_ctl" -D "$DIR/dr/data" -l "$DIR/dr/postgres.log" -w -t 60 start >/dev/null ||
    die "dr did not start (see $DIR/dr/postgres.log)"
  local i st=
  for i in $(seq 3000); do
    st=$(q dr "select status from pg_stat_wal_receiver" 2>/dev/null || true)
    [ "$st" = streaming ] && break
    sleep 0.01
  done
  [ "$st" = streaming ] || die "dr does not stream from main (see $DIR/dr/postgres.log)"

  # SSH: one user key, one sshd per site with its own host key.
  ssh-keygen -q -t ed25519 -N '' -C baton-sandbox -f "$DIR/ssh/id_ed25519" </dev/null
  cp "$DIR/ssh/id_ed25519.pub" "$DIR/ssh/authorized_keys"
  chmod 644 "$DIR/ssh/authorized_keys"
  : >"$DIR/ssh/known_hosts"
  [ "$(id -u)" = 0 ] && mkdir -p /run/sshd
  local addr port
  for s in main dr; do
    if [ $s = main ]; then addr=127.0.0.1 port=$SSH_MAIN; else addr=127.0.0.2 port=$SSH_DR; fi
    ssh-keygen -q -t ed25519 -N '' -C "sandbox-$s" -f "$DIR/ssh/${s}_host_ed25519" </dev/null
    cat >"$DIR/ssh/${s}_sshd_config" <<EOF
ListenAddress $addr:$port
HostKey $DIR/ssh/${s}_host_ed25519
PidFile $DIR/ssh/${s}_sshd.pid
AuthorizedKeysFile $DIR/ssh/authorized_keys
AllowUsers $PGOS
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin no
LogLevel ERROR
EOF
    "$SSHD" -f "$DIR/ssh/${s}_sshd_config" -E "$DIR/ssh/${s}_sshd.log" || die "sshd for $s did not start"
    echo "[$addr]:$port $(cut -d' ' -f1,2 "$DIR/ssh/${s}_host_ed25519.pub")" >>"$DIR/ssh/known_hosts"
  done
  for i in $(seq 500); do
    (exec 3<>"/dev/tcp/127.0.0.1/$SSH_MAIN") 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.2/$SSH_DR") 2>/dev/null && break
    sleep 0.01
  done

  cat >"$DIR/env" <<EOF
# Baton PostgreSQL sandbox (sandbox.sh up $DIR)
SANDBOX_DIR='$DIR'
SANDBOX_USER='$PGOS'
PGBIN='$PGBIN'
MAIN_PGPORT=$MAIN_PGPORT
DR_PGPORT=$DR_PGPORT
DRILL_PORT=$DRILL_PORT
MAIN_ADDRESS=127.0.0.1
DR_ADDRESS=127.0.0.2
MAIN_SSH_PORT=$SSH_MAIN
DR_SSH_PORT=$SSH_DR
MAIN_PGDATA='$DIR/main/data'
DR_PGDATA='$DIR/dr/data'
MAIN_SOCKET='$DIR/main/sock'
DR_SOCKET='$DIR/dr/sock'
DRILL_DIR_MAIN='$DIR/main/drill'
DRILL_DIR_DR='$DIR/dr/drill'
RUNBOOK='$DIR/runbook.toml'
STATE_DIR='$DIR/state'
WRITER_DSN='host=127.0.0.1,127.0.0.2 port=$MAIN_PGPORT,$DR_PGPORT user=postgres dbname=postgres target_session_attrs=read-write connect_timeout=2'
EOF
  write_runbook
  log "up: $DIR (runbook $DIR/runbook.toml, state $DIR/state)"
}

write_runbook() {
  local rb=$DIR/runbook.toml s addr port
  cat >"$rb" <<EOF
# Generated by sandbox.sh: this sandbox's sites and values, then the steps of
# $HERE/runbook.toml.
[runbook]
name = "pg-sandbox"
description = "PostgreSQL 15 streaming pair on loopback (examples/postgresql sandbox)"
rto = "1m"
rpo = "0s"

[ssh]
known_hosts = "$DIR/ssh/known_hosts"

[replication]
source = "main"
target = "dr"

[cost]
hourly_revenue = 2000
hourly_labor = 150
currency = "EUR"

[vars]
pgbin = "$PGBIN"
PGUSER = "postgres"
PGDATABASE = "postgres"
repl_user = "postgres"
max_lag_bytes = "16777216"
stop_timeout_s = "60"
require_rewind = "no"
drill_port = "$DRILL_PORT"
app_stop = '"$DIR/app/app.sh" stop'
app_start = '"$DIR/app/app.sh" start'
app_check = '"$DIR/app/app.sh" check'
app_smoke = '"$DIR/app/app.sh" smoke'
EOF
  for s in main dr; do
    if [ $s = main ]; then addr=127.0.0.1 port=$SSH_MAIN; else addr=127.0.0.2 port=$SSH_DR; fi
    cat >>"$rb" <<EOF

[sites.$s.hosts.db]
address = "$addr"
port = $port
user = "$PGOS"
identity = "$DIR/ssh/id_ed25519"

[sites.$s.hosts.db.vars]
PGDATA = "$DIR/$s/data"
PGHOST = "$DIR/$s/sock"
PGPORT = "$(port_of $s)"
pglog = "$DIR/$s/postgres.log"
drill_dir = "$DIR/$s/drill"
drill_listen = "$addr"
replication_slot = "baton_$s"
EOF
  done
  printf '\n' >>"$rb"
  sed -n '/^# ---- steps ----$/,$p' "$HERE/runbook.toml" >>"$rb"
}

down() {
  [ -d "$DIR" ] || return 0
  DIR=$(cd "$DIR" && pwd -P)
  [ -e "$DIR/$MARK" ] || die "$DIR is not a sandbox (no $MARK); not touching it"
  writer_stop quiet || true
  local f pid d
  for f in "$DIR"/ssh/*_sshd.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f"); kill -TERM "$pid" 2>/dev/null || true
  done
  # Every data dir under DIR, the drill clones too.
  for f in $(find "$DIR" -maxdepth 4 -name PG_VERSION 2>/dev/null); do
    d=$(dirname "$f"); pg_stop "$d"
  done
  # Backends whose postmaster was killed: none may outlive the sandbox.
  local left; left=$(procs_in "$DIR")
  [ -z "$left" ] || { kill -KILL $left 2>/dev/null || true; sleep 0.2; }
  rm -rf "$DIR"
  log "down: removed $DIR"
}

status() {
  # shellcheck disable=SC1091
  . "$DIR/env"
  local s
  for s in main dr; do
    local r
    r=$(q $s "select case when pg_is_in_recovery() then 'standby' else 'primary' end
             || coalesce(' <- ' || (select sender_host || ' ' || status from pg_stat_wal_receiver), '')
             || coalesce(' -> ' || (select string_agg(application_name || ' ' || state, ', ') from pg_stat_replication), '')" 2>/dev/null) ||
      r="down"
    printf '%-5s %s\n' "$s" "$r"
  done
  local pid; pid=$(cat "$DIR/app/writer.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && pg_alive "$pid"; then echo "writer running (pid $pid)"; else echo "writer not running"; fi
}

writer_start() {
  # shellcheck disable=SC1091
  . "$DIR/env"
  local pid; pid=$(cat "$DIR/app/writer.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && pg_alive "$pid"; then log "writer already running (pid $pid)"; return 0; fi
  rm -f "$DIR/app/ready" "$DIR/app/summary.json" "$DIR/app/stop" "$DIR/app/paused"
  setsid "$PY" "$DIR/app/writer.py" run --dir "$DIR/app" --dsn "$WRITER_DSN" \
    --interval-ms "${WRITER_INTERVAL_MS:-1}" </dev/null >>"$DIR/app/writer.log" 2>&1 &
  local i
  for i in $(seq 1000); do [ -e "$DIR/app/ready" ] && break; sleep 0.01; done
  [ -e "$DIR/app/ready" ] || die "writer never got a first ack (see $DIR/app/writer.log)"
  log "writer running (pid $(cat "$DIR/app/writer.pid"))"
}

writer_stop() {
  local quiet=${1:-} pid i
  pid=$(cat "$DIR/app/writer.pid" 2>/dev/null || true)
  [ -n "$pid" ] || return 0
  if pg_alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 500); do pg_alive "$pid" || break; sleep 0.01; done
    pg_alive "$pid" && kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$DIR/app/writer.pid"
  [ -n "$quiet" ] && return 0
  # shellcheck disable=SC1091
  . "$DIR/env"
  "$PY" "$DIR/app/writer.py" verify --dir "$DIR/app" --dsn "$WRITER_DSN"
}

case $cmd in
  up) up ;;
  down) down ;;
  status) status ;;
  writer-start) writer_start ;;
  writer-stop) writer_stop ;;
  pg-start)  # pg-start SITE: start the site's PostgreSQL as it is (a crashed primary comes back as a primary)
    site=${1:?site: main or dr}
    rm -f "$DIR/$site/data/postmaster.pid"
    as_pg "$PGBIN/pg_ctl" -D "$DIR/$site/data" -l "$DIR/$site/postgres.log" -w -t 60 start >/dev/null ||
      die "$site did not start (see $DIR/$site/postgres.log)" ;;
  pg-stop) pg_stop "$DIR/${1:?site: main or dr}/data" ;;
  psql)
    # shellcheck disable=SC1091
    . "$DIR/env"; site=${1:?site: main or dr}; shift
    as_pg "$PGBIN/psql" -X -h "$DIR/$site/sock" -p "$(port_of "$site")" -U postgres -d postgres "$@" ;;
  *) usage ;;
esac
