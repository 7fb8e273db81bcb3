#!/bin/sh
# Installs what Baton's build, tests and demo need, from Debian's packages.
# Works as root; uses sudo otherwise. Skips apt-get when all is there.
set -eu
packages="build-essential cmake ninja-build ccache pkg-config
  libboost-dev libssh-dev libtomlplusplus-dev libcli11-dev nlohmann-json3-dev libre2-dev googletest libgtest-dev
  clang-14 libclang-rt-14-dev
  graphviz pandoc dpkg-dev man-db bsdutils chromium openssh-server openssh-client rsync procps passwd iproute2 sudo
  postgresql-15 postgresql-client-15 python3 python3-psycopg2
  mariadb-server mariadb-client mariadb-backup python3-pymysql"

missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
echo "baton: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# The tests make their own clusters: no packaged "main" cluster on 5432.
if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
  $sudo mkdir -p /etc/postgresql-common
  echo "create_main_cluster = false" | $sudo tee /etc/postgresql-common/createcluster.conf >/dev/null
fi
$sudo apt-get update -qq
# Don't start the packaged PostgreSQL cluster or sshd: tests start their own.
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
