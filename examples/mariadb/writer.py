#!/usr/bin/python3
"""The sandbox's demo application: a writer that records every commit the
database acknowledged.

  writer.py run --dir D --servers H1:P1,H2:P2 --cnf APP.cnf [--interval-ms 1]
      One autocommit INSERT at a time into appdb.writer_probe, a short pause
      after each, as the application's account (user and password from the
      [client] group of APP.cnf; it has neither SUPER nor READ_ONLY ADMIN,
      so read_only binds it). It writes to whichever server answers
      @@read_only = 0; on an error it looks again every 2 ms. Every
      acknowledged id is appended to D/acked (flushed). While the file D/stop
      exists it writes nothing (the runbook's "stop the application"); it
      creates D/paused once it is idle. SIGTERM stops it; it writes
      D/summary.json (acked, max_gap_ms, ...).
  writer.py verify --dir D --servers ... --cnf APP.cnf
      Prints the summary and how many acked ids the writable server lacks.
"""
import argparse
import configparser
import json
import os
import signal
import sys
import time

import pymysql


def now_ms():
    return time.monotonic_ns() / 1e6


def credentials(path):
    c = configparser.ConfigParser(interpolation=None)
    with open(path) as f:
        c.read_file(f)
    return c["client"]["user"], c["client"]["password"]


def servers(text):
    out = []
    for hp in text.split(","):
        h, p = hp.rsplit(":", 1)
        out.append((h, int(p)))
    return out


def connect(host, port, user, password, timeout=2):
    return pymysql.connect(host=host, port=port, user=user, password=password, database="appdb",
                           autocommit=True, connect_timeout=timeout, read_timeout=10, write_timeout=10)


def writable(a, user, password):
    """A connection to the server that takes writes now, or None."""
    for h, p in servers(a.servers):
        try:
            c = connect(h, p, user, password)
        except pymysql.Error:
            continue
        try:
            with c.cursor() as cur:
                cur.execute("SELECT @@global.read_only")
                if cur.fetchone()[0] == 0:
                    return c, "%s:%d" % (h, p)
        except pymysql.Error:
            pass
        c.close()
    return None, None


def run(a):
    d = a.dir
    user, password = credentials(a.cnf)
    stop_flag, paused_flag = os.path.join(d, "stop"), os.path.join(d, "paused")
    with open(os.path.join(d, "writer.pid"), "w") as f:
        f.write("%d\n" % os.getpid())
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))

    acked_file = open(os.path.join(d, "acked"), "a")
    conn, host = None, None
    next_id = None
    acked = errors = 0
    last_ack = None          # (ms, wall time, host) of the previous ack
    max_gap = (0.0, None, None, None, None)  # ms, from, to, from host, to host
    gaps = []                # every gap over 50 ms
    switches = []            # every move to another server, with its gap
    hosts = []               # [wall time, host] each time the writable server changed
    paused = False
    pauses = 0
    interval = a.interval_ms / 1000.0

    while not stopping:
        if os.path.exists(stop_flag):
            if not paused:
                open(paused_flag, "w").close()
                paused, pauses = True, pauses + 1
            time.sleep(0.001)
            continue
        if paused:
            try:
                os.unlink(paused_flag)
            except FileNotFoundError:
                pass
            paused = False
        if conn is None:
            conn, host = writable(a, user, password)
            if conn is None:
                errors += 1
                time.sleep(0.002)
                continue
            if next_id is None:
                try:
                    with conn.cursor() as cur:
                        cur.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM writer_probe")
                        next_id = int(cur.fetchone()[0])
                except pymysql.Error:
                    conn.close()
                    conn = None
                    continue
        i = next_id
        next_id += 1  # an id whose outcome is unknown is never reused
        try:
            with conn.cursor() as cur:
                cur.execute("INSERT INTO writer_probe (id) VALUES (%s)", (i,))
        except pymysql.Error:
            # Read-only now (error 1290), or gone: find the writable server again.
            errors += 1
            try:
                conn.close()
            except pymysql.Error:
                pass
            conn = None
            continue
        t, wall = now_ms(), time.time()
        acked_file.write("%d\n" % i)
        acked_file.flush()
        acked += 1
        if last_ack is not None:
            gap = t - last_ack[0]
            if gap > max_gap[0]:
                max_gap = (gap, last_ack[1], wall, last_ack[2], host)
            if gap > 50:
                gaps.append({"ms": round(gap, 1), "from": last_ack[1], "to": wall,
                             "from_host": last_ack[2], "to_host": host})
            if last_ack[2] != host:  # every move to another server, however quick
                switches.append({"ms": round(gap, 1), "from": last_ack[1], "to": wall,
                                 "from_host": last_ack[2], "to_host": host})
        if not hosts or hosts[-1][1] != host:
            hosts.append([wall, host])
        last_ack = (t, wall, host)
        if acked == 1:
            open(os.path.join(d, "ready"), "w").close()
        if interval:
            time.sleep(interval)

    acked_file.close()
    summary = {
        "acked": acked, "errors": errors, "pauses": pauses,
        "max_gap_ms": round(max_gap[0], 1), "max_gap_from": max_gap[1], "max_gap_to": max_gap[2],
        "max_gap_from_host": max_gap[3], "max_gap_to_host": max_gap[4],
        "gaps_over_50ms": gaps, "host_switches": switches, "hosts": hosts, "next_id": next_id,
    }
    tmp = os.path.join(d, "summary.json.tmp")
    with open(tmp, "w") as f:
        json.dump(summary, f, indent=1)
    os.rename(tmp, os.path.join(d, "summary.json"))


def verify(a):
    with open(os.path.join(a.dir, "summary.json")) as f:
        s = json.load(f)
    with open(os.path.join(a.dir, "acked")) as f:
        acked = [int(x) for x in f.read().split()]
    user, password = credentials(a.cnf)
    conn, host = writable(a, user, password)
    if conn is None:
        print("writer: no writable server to verify against", file=sys.stderr)
        return 2
    present = set()
    with conn.cursor() as cur:
        for k in range(0, len(acked), 5000):
            chunk = acked[k:k + 5000]
            cur.execute("SELECT id FROM writer_probe WHERE id IN (%s)" % ",".join(["%s"] * len(chunk)), chunk)
            present.update(r[0] for r in cur.fetchall())
    lost = [i for i in acked if i not in present]
    print("writer: acked %d, lost %d (acked ids missing on %s), max gap between acks %.1f ms, "
          "%d pause(s), %d error(s) retried"
          % (len(acked), len(lost), host, s["max_gap_ms"], s["pauses"], s["errors"]))
    for g in s["gaps_over_50ms"]:
        print("  gap %7.1f ms  %s -> %s" % (g["ms"], g["from_host"], g["to_host"]))
    return 1 if lost else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("mode", choices=["run", "verify"])
    p.add_argument("--dir", required=True)
    p.add_argument("--servers", required=True, help="host:port,host:port")
    p.add_argument("--cnf", required=True, help="client option file with the application's user and password")
    p.add_argument("--interval-ms", type=float, default=1.0)
    a = p.parse_args()
    if a.mode == "run":
        run(a)
        return 0
    return verify(a)


if __name__ == "__main__":
    sys.exit(main())
