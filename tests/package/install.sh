#!/bin/sh
# `cmake --install` into a scratch prefix installs exactly the files of
# installed-files.txt; the installed binary runs, its man pages render, the
# bash completion completes verbs, the systemd examples verify.
# Usage: install.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1 src=$2
scratch=$(mktemp -d /tmp/baton-install-XXXXXX)
trap 'rm -rf "$scratch"' EXIT
cmake --install "$build" --prefix "$scratch/usr" >/dev/null
(cd "$scratch/usr" && find . -type f -o -type l | sed 's|^\./||' | LC_ALL=C sort) > "$scratch/got"
if ! diff -u "$src/tests/package/installed-files.txt" "$scratch/got"; then
  echo "FAIL: the installed files differ from tests/package/installed-files.txt (- expected, + installed)"; exit 1
fi
"$scratch/usr/bin/baton" --version | grep -q '^baton [0-9]' || { echo "FAIL: installed baton --version"; exit 1; }
for page in man1/baton.1.gz man5/baton-runbook.5.gz; do
  MANWIDTH=80 man -l "$scratch/usr/share/man/$page" > "$scratch/page" 2> "$scratch/warn" ||
    { echo "FAIL: man -l $page: $(cat "$scratch/warn")"; exit 1; }
  grep -q '^EXIT STATUS\|^EXIT CODES' "$scratch/page" || { echo "FAIL: $page has no exit status section"; exit 1; }
  # groff warnings would mean pandoc wrote something man cannot set.
  [ ! -s "$scratch/warn" ] || { echo "FAIL: man -l $page warns: $(cat "$scratch/warn")"; exit 1; }
done
MANWIDTH=80 man -l "$scratch/usr/share/man/man1/baton.1.gz" | grep -q -- '--color' || { echo "FAIL: baton(1) lacks --color"; exit 1; }
# The completion completes a verb and an operation.
words=$(bash -c '. "$1"; COMP_WORDS=(baton swi); COMP_CWORD=1; _baton; echo "${COMPREPLY[*]}"' _ \
  "$scratch/usr/share/bash-completion/completions/baton")
[ "$words" = "switchover" ] || { echo "FAIL: completion of 'baton swi' gave '$words'"; exit 1; }
words=$(bash -c '. "$1"; COMP_WORDS=(baton plan x.toml fa); COMP_CWORD=3; _baton; echo "${COMPREPLY[*]}"' _ \
  "$scratch/usr/share/bash-completion/completions/baton")
[ "$words" = "failover" ] || { echo "FAIL: completion of 'baton plan x.toml fa' gave '$words'"; exit 1; }
# The systemd examples are valid units (their ExecStart pointed at the installed binary).
if command -v systemd-analyze >/dev/null; then
  mkdir "$scratch/units"
  for u in "$scratch"/usr/share/doc/baton/examples/systemd/*; do
    sed "s|/usr/bin/baton|$scratch/usr/bin/baton|; s|^User=baton|User=root|" "$u" > "$scratch/units/$(basename "$u")"
  done
  out=$(cd "$scratch/units" && systemd-analyze verify --man=no ./*.service ./*.timer 2>&1) || true
  if echo "$out" | grep -v 'Failed to .*bus\|not booted\|System has not been booted' | grep -q .; then
    echo "FAIL: systemd-analyze verify: $out"; exit 1
  fi
fi
echo "installed $(wc -l < "$scratch/got") files; binary, man pages, completion and units check"
