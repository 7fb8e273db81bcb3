#!/bin/sh
# The local example's two "sites": directories under $BATON_EXAMPLE_ROOT
# (default /tmp/baton-example), replicated with rsync, and a tiny
# application that takes orders into the data of whichever site is active.
set -eu
root=${BATON_EXAMPLE_ROOT:-/tmp/baton-example}
here=$(cd "$(dirname "$0")" && pwd)

pid_of() { cat "$root/$1/app.pid" 2>/dev/null || true; }
# Alive and not a zombie (pid 1 may be slow to reap orphans).
alive() { kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
running() { p=$(pid_of "$1"); [ -n "$p" ] && alive "$p"; }

case "${1:-}" in
  init)  # Fresh sites; main is production and its app runs unless --no-app.
    rm -rf "$root"
    mkdir -p "$root/main/data" "$root/dr/data"
    printf 'order 0 taken on main at %s\n' "$(date +%s)" > "$root/main/data/orders.log"
    echo "customers: 42" > "$root/main/data/customers.txt"
    rsync -a --delete "$root/main/data/" "$root/dr/data/"
    echo main > "$root/active"
    echo main > "$root/dr/follows"
    [ "${2:-}" = "--no-app" ] || "$0" app-start main
    ;;
  app-start)  # app-start SITE: run the application against SITE's data.
    running "$2" && exit 0
    nohup "$here/app.sh" "$root" "$2" >/dev/null 2>&1 </dev/null &
    for _ in 1 2 3 4 5 6 7 8 9 10; do [ -s "$root/$2/app.pid" ] && exit 0; sleep 0.1; done
    echo "application did not start on $2" >&2; exit 1
    ;;
  app-stop)  # app-stop SITE: stop it and wait until it is gone.
    p=$(pid_of "$2")
    [ -n "$p" ] || exit 0
    kill "$p" 2>/dev/null || true
    for _ in $(seq 1 100); do alive "$p" || { rm -f "$root/$2/app.pid"; exit 0; }; sleep 0.05; done
    echo "application on $2 (pid $p) did not stop" >&2; exit 1
    ;;
  app-check)  # app-check SITE: the application is taking orders there.
    running "$2" || { echo "application is not running on $2" >&2; exit 1; }
    a=$(wc -l < "$root/$2/data/orders.log"); sleep 0.3; b=$(wc -l < "$root/$2/data/orders.log")
    [ "$b" -gt "$a" ] || { echo "no new orders on $2 ($a -> $b)" >&2; exit 1; }
    echo "$2 took $((b - a)) orders in 0.3 s"
    ;;
  checksum)  # checksum SITE: one digest of all the site's data.
    cd "$root/$2/data" && find . -type f | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-16
    ;;
  replicate)  # replicate FROM TO
    rsync -a --delete "$root/$2/data/" "$root/$3/data/"
    ;;
  activate)  # activate SITE: it serves production; prints the previous one.
    cat "$root/active"; echo "$2" > "$root/active"
    ;;
  follow)  # follow SITE OTHER: SITE becomes a replica of OTHER.
    rsync -a --delete "$root/$3/data/" "$root/$2/data/"
    echo "$3" > "$root/$2/follows"; rm -f "$root/$3/follows"
    ;;
  drill-clone)  # drill-clone SITE: a scratch copy of SITE's data.
    rm -rf "$root/drill"; mkdir -p "$root/drill"
    cp -a "$root/$2/data" "$root/drill/data"
    ;;
  drill-remove)
    "$0" app-stop drill; rm -rf "$root/drill"
    ;;
  role)  # role SITE: what the site is, for Baton's probe, with facts.
    [ -d "$root/$2/data" ] || { echo "down no-data"; exit 0; }
    n=$(wc -l < "$root/$2/data/orders.log" 2>/dev/null || echo 0)
    if [ "$(cat "$root/active" 2>/dev/null)" = "$2" ]; then echo "primary orders=$n"
    elif [ -f "$root/$2/follows" ]; then echo "standby orders=$n follows=$(cat "$root/$2/follows")"
    else echo "down orders=$n not-following"; fi
    ;;
  serve)  # What the application serves now.
    a=$(cat "$root/active"); printf '%s serves: %s\n' "$a" "$(tail -n 1 "$root/$a/data/orders.log")"
    ;;
  teardown)
    for s in main dr drill; do "$0" app-stop "$s" 2>/dev/null || true; done
    rm -rf "$root"
    ;;
  *) echo "usage: site.sh init|app-start|app-stop|app-check|checksum|replicate|activate|follow|role|drill-clone|drill-remove|serve|teardown" >&2; exit 2 ;;
esac
