#!/usr/bin/env bash
# Two MariaDB 10.11 "sites" on one machine, for Baton's MariaDB example.
#
#   sandbox.sh up DIR            build and start everything under DIR (must not exist)
#   sandbox.sh down DIR          stop everything by pid, remove DIR (idempotent)
#   sandbox.sh status DIR        each server's probe line (primary/standby/down), the writer
#   sandbox.sh writer-start DIR  start the demo application (writer.py)
#   sandbox.sh writer-stop DIR   stop it; print its summary and the acknowledged ids
#                                missing on the writable server ("lost")
#   sandbox.sh sql DIR SITE [mariadb args]   the mariadb client on site main or dr (as admin)
#   sandbox.sh sshd-stop DIR SITE / sshd-start DIR SITE   make a site unreachable, and back
#
# Site "main": mariadbd on 127.0.0.1:P1, sshd on 127.0.0.1:S1 (the GTID primary).
# Site "dr":   mariadbd on 127.0.0.2:P2, sshd on 127.0.0.2:S2 (a replica, MASTER_USE_GTID
#              = slave_pos, built from a mariadb-backup stream of main).
# Each site has its own option file (DIR/SITE/my.cnf), data directory, socket and pid
# file, and its own sshd and host key. Everything listens on loopback only, on ports
# that are free when `up` runs. No systemd: mariadbd runs directly.
#
# As root, mariadbd and the SSH logins run as the user "batonmy" (created if missing);
# as an ordinary user, as that user. Baton and the writer run as the caller.
# DIR/runbook.toml is this sandbox's header, the probe of runbook.toml beside this
# script, and its steps; DIR/env is a sourceable file with everything's address.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MARIADBD=${MARIADBD:-/usr/sbin/mariadbd}
SSHD=${SSHD:-/usr/sbin/sshd}
# Debian's python3 has python3-pymysql; a pyenv or venv python may not.
PY=${PYTHON:-$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || command -v python3)}
SANDBOX_USER=${SANDBOX_USER:-batonmy}
MARK=.baton-mariadb-sandbox

log() { printf 'sandbox: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

[ $# -ge 2 ] || usage
cmd=$1 DIR=$(realpath -m -- "$2")
shift 2

# The OS user mariadbd and the SSH logins run as.
if [ "$(id -u)" = 0 ]; then DBOS=$SANDBOX_USER; else DBOS=$(id -un); fi
as_db() { if [ "$(id -u)" = 0 ]; then runuser -u "$DBOS" -- "$@"; else "$@"; fi; }

ensure_user() {
  [ "$(id -u)" = 0 ] || return 0
  if ! getent passwd "$DBOS" >/dev/null; then
    # "*", not useradd's "!": sshd with UsePAM no refuses locked accounts.
    useradd -m -s /bin/sh -p '*' "$DBOS" 2>/dev/null || getent passwd "$DBOS" >/dev/null ||
      die "cannot create user $DBOS"
  fi
  local shell pw home
  shell=$(getent passwd "$DBOS" | cut -d: -f7)
  pw=$(getent shadow "$DBOS" | cut -d: -f2)
  if [ "$shell" != /bin/sh ] || [ "${pw:0:1}" = '!' ]; then usermod -s /bin/sh -p '*' "$DBOS"; fi
  home=$(getent passwd "$DBOS" | cut -d: -f6)
  [ -d "$home" ] || install -d -o "$DBOS" -g "$(id -gn "$DBOS")" "$home"
}

# Free ports: mariadbd main (127.0.0.1), mariadbd dr (127.0.0.2), the drill's
# scratch server (free on both: the replica may be on either), one sshd per address.
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
print(pick(["127.0.0.1"]), pick(["127.0.0.2"]), pick(["127.0.0.1", "127.0.0.2"]),
      pick(["127.0.0.1"]), pick(["127.0.0.2"]))
PY
}

# alive PID: a live, non-zombie process.
alive() {
  local st
  [ -r "/proc/$1/stat" ] || return 1
  st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}

# procs_in DIR: pids of mariadbd processes whose working directory (their
# data directory) is DIR or below.
procs_in() {
  local l pid
  find /proc -mindepth 2 -maxdepth 2 -name cwd \( -lname "$1" -o -lname "$1/*" \) 2>/dev/null |
    while read -r l; do
      pid=${l#/proc/}; pid=${pid%/cwd}
      [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = mariadbd ] && alive "$pid" && echo "$pid"
    done || true
}

addr_of() { if [ "$1" = main ]; then echo 127.0.0.1; else echo 127.0.0.2; fi; }
port_of() { if [ "$1" = main ]; then echo "$MAIN_DBPORT"; else echo "$DR_DBPORT"; fi; }
sshport_of() { if [ "$1" = main ]; then echo "$SSH_MAIN"; else echo "$SSH_DR"; fi; }

# mycnf SITE SERVER_ID: the host's option file, for mariadbd and for the clients.
mycnf() {
  local s=$1 d=$DIR/$1
  cat >"$d/my.cnf" <<EOF
# Baton MariaDB sandbox, site $s. Read by mariadbd, mariadb, mariadb-admin and
# mariadb-backup through --defaults-file (so /etc/mysql is not read).
[mariadbd]
datadir = $d/data
socket = $d/run/mariadbd.sock
pid-file = $d/run/mariadbd.pid
log-error = $d/mariadbd.err
port = $(port_of "$s")
bind-address = $(addr_of "$s")
server-id = $2
# GTID replication, crash-safe on both sides: either can be the primary.
log-bin = binlog
log-slave-updates = ON
relay-log = relay
binlog-format = ROW
sync-binlog = 1
innodb-flush-log-at-trx-commit = 1
gtid-strict-mode = ON
# Every start is read-only: only a promotion (SET GLOBAL read_only = OFF)
# makes a server writable, so a restarted old primary never takes writes.
read-only = ON
skip-name-resolve
innodb-buffer-pool-size = 32M
innodb-log-file-size = 16M
performance-schema = OFF
max-connections = 80

[client]
socket = $d/run/mariadbd.sock
EOF
}

start_db() {  # start_db SITE: mariadbd in the background, until it answers
  local s=$1 i
  as_db setsid "$MARIADBD" --defaults-file="$DIR/$s/my.cnf" </dev/null >/dev/null 2>&1 &
  for i in $(seq 3000); do
    as_db mariadb-admin --defaults-file="$DIR/$s/my.cnf" --connect-timeout=1 ping >/dev/null 2>&1 && return 0
    sleep 0.01
  done
  die "mariadbd on $s did not start (see $DIR/$s/mariadbd.err)"
}

q() {  # q SITE SQL: as the admin (the OS user, unix_socket) on SITE
  local s=$1; shift
  as_db mariadb --defaults-file="$DIR/$s/my.cnf" -NB -e "$*"
}

# secret_cnf FILE USER PASSWORD: a client option file only the DB user reads.
secret_cnf() {
  printf '[client]\nuser = %s\npassword = %s\n' "$2" "$3" >"$1"
  chmod 600 "$1"
  [ "$(id -u)" = 0 ] && chown "$DBOS:$(id -gn "$DBOS")" "$1"
  return 0
}

up() {
  [ ! -e "$DIR" ] || [ -z "$(ls -A "$DIR" 2>/dev/null)" ] || die "$DIR exists and is not empty"
  [ -x "$MARIADBD" ] || die "mariadbd not found at $MARIADBD (apt-get install mariadb-server)"
  command -v mariadb-backup >/dev/null || die "mariadb-backup not found (apt-get install mariadb-backup)"
  [ -x "$SSHD" ] || die "sshd not found (apt-get install openssh-server)"
  "$PY" -c 'import pymysql' 2>/dev/null || die "$PY lacks pymysql (apt-get install python3-pymysql)"
  ensure_user
  mkdir -p "$DIR"
  DIR=$(cd "$DIR" && pwd -P)
  touch "$DIR/$MARK"
  chmod 755 "$DIR"
  local g; g=$(id -gn "$DBOS")
  read -r MAIN_DBPORT DR_DBPORT DRILL_PORT SSH_MAIN SSH_DR <<<"$(pick_ports)"
  log "ports: mariadbd $MAIN_DBPORT (main) and $DR_DBPORT (dr), sshd $SSH_MAIN (main) and $SSH_DR (dr), drill $DRILL_PORT"

  local s
  for s in main dr; do install -d -o "$DBOS" -g "$g" -m 755 "$DIR/$s" "$DIR/$s/run"; done
  install -d -o "$DBOS" -g "$g" -m 755 "$DIR/app"
  install -d -o "$DBOS" -g "$g" -m 700 "$DIR/secrets"
  install -d -m 755 "$DIR/ssh"
  install -d -m 700 "$DIR/state"
  cp "$HERE/app.sh" "$HERE/writer.py" "$DIR/app/"
  chmod 755 "$DIR/app/app.sh"
  mycnf main 1
  mycnf dr 2
  for s in main dr; do [ "$(id -u)" = 0 ] && chown "$DBOS:$g" "$DIR/$s/my.cnf"; chmod 644 "$DIR/$s/my.cnf"; done

  # Passwords: random, in client option files (never in the runbook).
  local pw_repl pw_app pw_admin
  pw_repl=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  pw_app=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  pw_admin=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  secret_cnf "$DIR/secrets/repl.cnf" repl "$pw_repl"
  secret_cnf "$DIR/app/app.cnf" app "$pw_app"
  secret_cnf "$DIR/secrets/admin.cnf" sandbox_admin "$pw_admin"

  # main: system tables, then the primary's accounts and the application's tables.
  # mariadb-install-db fsyncs about a thousand times (5 s here): run it where
  # fsync is free (/dev/shm) when there is one, then move the result.
  local boot="$DIR/main" t0 i
  if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    boot=$(mktemp -d /dev/shm/baton-mariadb.XXXXXX)
    chmod 755 "$boot"
    [ "$(id -u)" = 0 ] && chown "$DBOS:$g" "$boot"
  fi
  printf '[mariadbd]\ndatadir = %s/data\ninnodb-log-file-size = 16M\n' "$boot" >"$boot/boot.cnf"
  if ! as_db mariadb-install-db --defaults-file="$boot/boot.cnf" --user="$DBOS" \
      --auth-root-authentication-method=socket --skip-test-db >"$DIR/main/install.log" 2>&1; then
    [ "$boot" = "$DIR/main" ] || rm -rf "$boot"
    die "mariadb-install-db failed (see $DIR/main/install.log)"
  fi
  if [ "$boot" != "$DIR/main" ]; then
    as_db cp -a "$boot/data" "$DIR/main/data"
    rm -rf "$boot"
  else
    rm -f "$boot/boot.cnf"
  fi
  start_db main
  q main "SET GLOBAL read_only = OFF;
    CREATE USER repl@'127.0.0.%' IDENTIFIED BY '$pw_repl';
    GRANT REPLICATION SLAVE ON *.* TO repl@'127.0.0.%';
    CREATE DATABASE appdb;
    CREATE TABLE appdb.writer_probe (id BIGINT PRIMARY KEY, at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6));
    CREATE TABLE appdb.app_smoke (id BIGINT AUTO_INCREMENT PRIMARY KEY, at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6));
    -- The application's account: no SUPER, no READ_ONLY ADMIN, so read_only binds it.
    CREATE USER app@'127.0.0.%' IDENTIFIED BY '$pw_app';
    GRANT SELECT, INSERT, UPDATE, DELETE ON appdb.* TO app@'127.0.0.%';
    -- The tests' and sandbox.sh's own account over TCP (read_only does not bind it).
    CREATE USER sandbox_admin@'127.0.0.%' IDENTIFIED BY '$pw_admin';
    GRANT ALL ON *.* TO sandbox_admin@'127.0.0.%' WITH GRANT OPTION;" ||
    die "setting up main failed"

  # dr: a replica built from a mariadb-backup stream of main, as an admin would.
  as_db mkdir "$DIR/dr/data.new"
  as_db bash -c "set -o pipefail; mariadb-backup --defaults-file='$DIR/main/my.cnf' --backup --stream=xbstream \
    2>'$DIR/dr/backup.log' | mbstream -x -C '$DIR/dr/data.new'" || die "mariadb-backup of main failed (see $DIR/dr/backup.log)"
  as_db mariadb-backup --prepare --target-dir="$DIR/dr/data.new" >>"$DIR/dr/backup.log" 2>&1 ||
    die "mariadb-backup --prepare failed (see $DIR/dr/backup.log)"
  as_db mv "$DIR/dr/data.new" "$DIR/dr/data"
  local gtid; gtid=$(cut -f3 "$DIR/dr/data/xtrabackup_binlog_info")
  start_db dr
  q dr "SET GLOBAL gtid_slave_pos = '$gtid';
    CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = $MAIN_DBPORT, MASTER_USER = 'repl',
      MASTER_PASSWORD = '$pw_repl', MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1;
    START SLAVE;" || die "starting replication on dr failed"
  local st=
  for i in $(seq 3000); do
    st=$(as_db mariadb --defaults-file="$DIR/dr/my.cnf" -e 'SHOW SLAVE STATUS\G' 2>/dev/null |
         sed -n 's/^ *Slave_\(IO\|SQL\)_Running: //p' | tr '\n' ' ')
    [ "$st" = "Yes Yes " ] && break
    sleep 0.01
  done
  [ "$st" = "Yes Yes " ] || die "dr does not replicate from main (IO/SQL running: $st; see $DIR/dr/mariadbd.err)"

  # SSH: Baton's key (the caller's), a key for the DB user to reach the other
  # site (the rebuild streams a backup over it), one sshd per site.
  ssh-keygen -q -t ed25519 -N '' -C baton-sandbox -f "$DIR/ssh/id_ed25519" </dev/null
  ssh-keygen -q -t ed25519 -N '' -C baton-sandbox-peer -f "$DIR/ssh/peer_ed25519" </dev/null
  [ "$(id -u)" = 0 ] && chown "$DBOS:$g" "$DIR/ssh/peer_ed25519"
  cat "$DIR/ssh/id_ed25519.pub" "$DIR/ssh/peer_ed25519.pub" >"$DIR/ssh/authorized_keys"
  chmod 644 "$DIR/ssh/authorized_keys"
  : >"$DIR/ssh/known_hosts"
  chmod 644 "$DIR/ssh/known_hosts"
  [ "$(id -u)" = 0 ] && mkdir -p /run/sshd
  for s in main dr; do
    ssh-keygen -q -t ed25519 -N '' -C "sandbox-$s" -f "$DIR/ssh/${s}_host_ed25519" </dev/null
    cat >"$DIR/ssh/${s}_sshd_config" <<EOF
ListenAddress $(addr_of $s):$(sshport_of $s)
HostKey $DIR/ssh/${s}_host_ed25519
PidFile $DIR/ssh/${s}_sshd.pid
AuthorizedKeysFile $DIR/ssh/authorized_keys
AllowUsers $DBOS
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin no
LogLevel ERROR
EOF
    echo "[$(addr_of $s)]:$(sshport_of $s) $(cut -d' ' -f1,2 "$DIR/ssh/${s}_host_ed25519.pub")" >>"$DIR/ssh/known_hosts"
    sshd_start "$s"
  done

  cat >"$DIR/env" <<EOF
# Baton MariaDB sandbox (sandbox.sh up $DIR)
SANDBOX_DIR='$DIR'
SANDBOX_USER='$DBOS'
MAIN_DBPORT=$MAIN_DBPORT
DR_DBPORT=$DR_DBPORT
DRILL_PORT=$DRILL_PORT
MAIN_ADDRESS=127.0.0.1
DR_ADDRESS=127.0.0.2
MAIN_SSH_PORT=$SSH_MAIN
DR_SSH_PORT=$SSH_DR
MAIN_MYCNF='$DIR/main/my.cnf'
DR_MYCNF='$DIR/dr/my.cnf'
MAIN_DATADIR='$DIR/main/data'
DR_DATADIR='$DIR/dr/data'
MAIN_PIDFILE='$DIR/main/run/mariadbd.pid'
DR_PIDFILE='$DIR/dr/run/mariadbd.pid'
DRILL_DIR_MAIN='$DIR/main/drill'
DRILL_DIR_DR='$DIR/dr/drill'
APP_CNF='$DIR/app/app.cnf'
ADMIN_CNF='$DIR/secrets/admin.cnf'
RUNBOOK='$DIR/runbook.toml'
STATE_DIR='$DIR/state'
WRITER_SERVERS='127.0.0.1:$MAIN_DBPORT,127.0.0.2:$DR_DBPORT'
EOF
  write_runbook
  log "up: $DIR (runbook $DIR/runbook.toml, state $DIR/state)"
}

sshd_start() {
  local s=$1 i
  "$SSHD" -f "$DIR/ssh/${s}_sshd_config" -E "$DIR/ssh/${s}_sshd.log" || die "sshd for $s did not start"
  for i in $(seq 500); do
    (exec 3<>"/dev/tcp/$(addr_of "$s")/$(sshport_of "$s")") 2>/dev/null && return 0
    sleep 0.01
  done
  die "sshd for $s does not answer"
}

sshd_stop() {
  local pid i
  pid=$(cat "$DIR/ssh/$1_sshd.pid" 2>/dev/null || true)
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 500); do alive "$pid" || break; sleep 0.01; done
  rm -f "$DIR/ssh/$1_sshd.pid"
}

write_runbook() {
  local rb=$DIR/runbook.toml s addr
  cat >"$rb" <<EOF
# Generated by sandbox.sh: this sandbox's sites and values, the prelude, the probe and the
# steps of $HERE/runbook.toml.
[runbook]
name = "mariadb-sandbox"
description = "MariaDB 10.11 GTID primary and replica on loopback (examples/mariadb sandbox)"
rto = "1m"
rpo = "0 transactions"
EOF
  # The example's prelude (db_probe) and [probe], unchanged: not specific to an installation.
  sed -n "/^prelude = '''\$/,/^'''\$/p" "$HERE/runbook.toml" >>"$rb"
  cat >>"$rb" <<EOF

[ssh]
known_hosts = "$DIR/ssh/known_hosts"

[replication]
source = "main"
target = "dr"

[vars]
repl_cnf = "$DIR/secrets/repl.cnf"
app_user = "app"
max_lag_seconds = "10"
peer_ssh = "ssh -F /dev/null -o BatchMode=yes -o ConnectTimeout=5 -o GlobalKnownHostsFile=/dev/null -o UserKnownHostsFile=$DIR/ssh/known_hosts -i $DIR/ssh/peer_ed25519"
mariadbd = "$MARIADBD"
drill_port = "$DRILL_PORT"
app_stop = '"$DIR/app/app.sh" stop'
app_start = '"$DIR/app/app.sh" start'
app_check = '"$DIR/app/app.sh" check'
app_smoke = '"$DIR/app/app.sh" smoke'
EOF
  printf '\n' >>"$rb"
  sed -n '/^\[probe\]$/,/^$/p' "$HERE/runbook.toml" >>"$rb"
  for s in main dr; do
    addr=$(addr_of $s)
    cat >>"$rb" <<EOF

[sites.$s.hosts.db]
address = "$addr"
port = $(sshport_of $s)
user = "$DBOS"
identity = "$DIR/ssh/id_ed25519"

[sites.$s.hosts.db.vars]
mycnf = "$DIR/$s/my.cnf"
datadir = "$DIR/$s/data"
binlog_index = "$DIR/$s/data/binlog.index"
pid_file = "$DIR/$s/run/mariadbd.pid"
db_port = "$(port_of $s)"
mariadbd_start = 'setsid "$MARIADBD" --defaults-file="$DIR/$s/my.cnf" </dev/null >/dev/null 2>&1 &'
rebuild_dir = "$DIR/$s"
drill_dir = "$DIR/$s/drill"
drill_listen = "$addr"
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
  local s p
  for s in main dr; do sshd_stop "$s"; done
  # Every mariadbd under DIR (the drill's scratch servers too): a throwaway, so SIGKILL.
  for i in $(seq 300); do
    p=$(procs_in "$DIR")
    [ -z "$p" ] && break
    kill -KILL $p 2>/dev/null || true
    sleep 0.02
  done
  rm -rf "$DIR"
  log "down: removed $DIR"
}

status() {
  # shellcheck disable=SC1091
  . "$DIR/env"
  local s r
  for s in main dr; do
    r=$(as_db env mycnf="$DIR/$s/my.cnf" sh -c "$(sed -n "/^prelude = '''\$/,/^'''\$/p" "$DIR/runbook.toml" | sed '1d;$d')
db_probe" 2>/dev/null) ||
      r="down"
    printf '%-5s %s\n' "$s" "$r"
  done
  local pid; pid=$(cat "$DIR/app/writer.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && alive "$pid"; then echo "writer running (pid $pid)"; else echo "writer not running"; fi
}

writer_start() {
  # shellcheck disable=SC1091
  . "$DIR/env"
  local pid; pid=$(cat "$DIR/app/writer.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && alive "$pid"; then log "writer already running (pid $pid)"; return 0; fi
  rm -f "$DIR/app/ready" "$DIR/app/summary.json" "$DIR/app/stop" "$DIR/app/paused"
  setsid "$PY" "$DIR/app/writer.py" run --dir "$DIR/app" --servers "$WRITER_SERVERS" --cnf "$APP_CNF" \
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
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 500); do alive "$pid" || break; sleep 0.01; done
    alive "$pid" && kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$DIR/app/writer.pid"
  [ -n "$quiet" ] && return 0
  # shellcheck disable=SC1091
  . "$DIR/env"
  "$PY" "$DIR/app/writer.py" verify --dir "$DIR/app" --servers "$WRITER_SERVERS" --cnf "$APP_CNF"
}

site_arg() { case ${1:-} in main|dr) ;; *) die "site: main or dr" ;; esac; }

case $cmd in
  up) up ;;
  down) down ;;
  status) status ;;
  writer-start) writer_start ;;
  writer-stop) writer_stop ;;
  sql)
    site_arg "${1:-}"; s=$1; shift
    as_db mariadb --defaults-file="$DIR/$s/my.cnf" "$@" ;;
  sshd-stop) site_arg "${1:-}"; sshd_stop "$1" ;;
  sshd-start)
    site_arg "${1:-}"
    # shellcheck disable=SC1091
    . "$DIR/env"; SSH_MAIN=$MAIN_SSH_PORT SSH_DR=$DR_SSH_PORT; sshd_start "$1" ;;
  *) usage ;;
esac
