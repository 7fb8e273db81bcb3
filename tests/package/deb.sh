#!/bin/sh
# Builds the Debian package as a user would (a Release build of its own,
# `cpack -G DEB`), then checks it: Depends names libssh and toml++, the
# binary is stripped, unpacked into a scratch root `baton --version` runs
# and `man -l` renders the page; as root, `dpkg -i` installs it and
# `dpkg -r` removes it again.
# Usage: deb.sh SOURCE_DIR WORK_DIR (the Release build and the .deb stay in WORK_DIR)
set -eu
src=$1
mkdir -p "$2"
work=$(cd "$2" && pwd)
start=$(date +%s)
cmake -S "$src" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
nice -n 10 cmake --build "$work/build" -j2 >/dev/null
(cd "$work/build" && cpack -G DEB -B "$work/deb" > "$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; exit 1; }
echo "package built in $(( $(date +%s) - start )) s"
deb=$(ls "$work"/deb/baton_*.deb)
echo "$deb: $(stat -c %s "$deb") bytes"
fail() { echo "FAIL: $*"; exit 1; }

depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
echo "$depends" | grep -q 'libssh-4\|libssh4' || fail "Depends lacks libssh"
echo "$depends" | grep -q 'libtomlplusplus3' || fail "Depends lacks toml++"
[ "$(dpkg-deb -f "$deb" Package)" = baton ] || fail "package name"

root=$(mktemp -d /tmp/baton-deb-XXXXXX)
trap 'rm -rf "$root"' EXIT
dpkg -x "$deb" "$root"
bin="$root/usr/bin/baton"
"$bin" --version | grep -q '^baton [0-9]' || fail "unpacked baton --version"
if readelf -S "$bin" | grep -q '\.symtab'; then fail "the binary is not stripped"; fi
MANWIDTH=80 man -l "$root/usr/share/man/man1/baton.1.gz" 2>&1 | grep -q '^NAME' || fail "man -l baton.1.gz"
MANWIDTH=80 man -l "$root/usr/share/man/man5/baton-runbook.5.gz" 2>&1 | grep -q '^NAME' || fail "man -l baton-runbook.5.gz"
[ -f "$root/usr/share/doc/baton/examples/systemd/baton-drill.timer" ] || fail "no systemd examples"

if [ "$(id -u)" -eq 0 ] && ! dpkg-query -W baton >/dev/null 2>&1; then
  # A real install where nothing named baton is installed already.
  dpkg -i "$deb" >/dev/null || fail "dpkg -i"
  trap 'dpkg -r baton >/dev/null 2>&1; rm -rf "$root"' EXIT
  /usr/bin/baton --version | grep -q '^baton [0-9]' || fail "installed /usr/bin/baton --version"
  [ "$(man -w baton)" = /usr/share/man/man1/baton.1.gz ] || fail "man -w baton: $(man -w baton)"
  dpkg -r baton >/dev/null || fail "dpkg -r"
  [ ! -e /usr/bin/baton ] || fail "dpkg -r left /usr/bin/baton"
  echo "dpkg -i and dpkg -r: ok"
fi
echo "package ok"
