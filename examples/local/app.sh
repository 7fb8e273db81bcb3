#!/bin/sh
# app.sh ROOT SITE: the demo application. Takes an order every 100 ms into
# SITE's data until stopped.
root=$1 site=$2
log="$root/$site/data/orders.log"
echo $$ > "$root/$site/app.pid"
n=$(wc -l < "$log" 2>/dev/null || echo 0)
trap 'exit 0' TERM INT
while :; do
  n=$((n + 1))
  echo "order $n taken on $site at $(date +%s)" >> "$log"
  sleep 0.1
done
