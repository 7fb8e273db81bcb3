#!/usr/bin/python3
"""examples/postgresql's fence-old-primary step says where the old primary's
WAL ends: that LSN is the failover's measured data loss, judged against the
RPO. When the WAL ends at a segment or page boundary, pg_waldump's message
names a segment file (and an offset), not a position; the step must still
give the LSN, never "unknown" (which makes an RPO of 0 refuse the failover).

A PostgreSQL 15 cluster of its own (no sandbox): WAL switched to a new
segment, then the step's own script (from runbook.toml) fences it and reads
the end. As root (the cluster runs as the postgres user).
"""
import os
import shutil
import subprocess
import tempfile
import tomllib
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PGBIN = "/usr/lib/postgresql/15/bin"


def fence_script():
    with open(os.path.join(ROOT, "examples/postgresql/runbook.toml"), "rb") as f:
        rb = tomllib.load(f)
    return next(s["run"] for s in rb["step"] if s["id"] == "fence-old-primary")


def lsn(text):
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) + int(lo, 16)


@unittest.skipUnless(os.geteuid() == 0 and os.path.isdir(PGBIN), "needs root and PostgreSQL 15")
class WalEnd(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="baton-walend-")
        os.chmod(self.dir, 0o755)
        shutil.chown(self.dir, "postgres")
        self.data = os.path.join(self.dir, "data")
        self.pg("initdb", "-D", self.data, "--no-sync")
        self.pg("pg_ctl", "-D", self.data, "-o", "-p 55431 -k " + self.dir + " -c listen_addresses=''",
                "-l", os.path.join(self.dir, "log"), "-w", "start")

    def tearDown(self):
        subprocess.run(["runuser", "-u", "postgres", "--", PGBIN + "/pg_ctl", "-D", self.data, "-m", "immediate",
                        "stop"], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)

    def pg(self, tool, *args, env=None):
        r = subprocess.run(["runuser", "-u", "postgres", "--", PGBIN + "/" + tool, *args], capture_output=True,
                           text=True, env=env, cwd="/")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r.stdout.strip()

    def sql(self, q):
        return self.pg("psql", "-h", self.dir, "-p", "55431", "-XAtq", "-d", "postgres", "-c", q)

    def fence(self):
        env = dict(os.environ, PGDATA=self.data, pgbin=PGBIN)
        r = subprocess.run(["runuser", "-u", "postgres", "--", "/bin/sh", "-c", fence_script()], capture_output=True,
                           text=True, env=env, cwd="/")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r.stdout.strip().splitlines()[-1]

    def test_wal_that_ends_where_a_segment_begins_still_has_an_end(self):
        self.sql("CREATE TABLE t(x int); INSERT INTO t SELECT generate_series(1, 1000)")
        switched = self.sql("SELECT pg_switch_wal()")
        next_segment = self.sql("SELECT pg_current_wal_insert_lsn()")
        end = self.fence()
        self.assertNotEqual(end, "unknown")
        # Nothing after the switch: the WAL ends where the next segment begins
        # (a background record may add a few bytes there).
        begins = lsn(next_segment) & ~(16 * 1024 * 1024 - 1)
        self.assertGreater(lsn(end), lsn(switched))
        self.assertGreaterEqual(lsn(end), begins, (end, next_segment))
        self.assertLess(lsn(end) - begins, 8192, (end, next_segment))


if __name__ == "__main__":
    unittest.main(verbosity=2)
