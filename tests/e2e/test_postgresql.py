#!/usr/bin/python3
"""End-to-end tests of examples/postgresql: the built baton binary drives a
real PostgreSQL 15 streaming pair over real sshd, in the example's sandbox
(examples/postgresql/sandbox.sh: two sites on 127.0.0.1 and 127.0.0.2).

Each test builds its own sandbox and tears it down, also on failure.
  BATON_BINARY   the baton to test (default: build/baton)
  E2E_KEEP=1     keep the sandbox of a failed test for inspection
Run as root (PostgreSQL then runs as the user batonpg) or as an ordinary user.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import psycopg2

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SANDBOX = os.path.join(ROOT, "examples", "postgresql", "sandbox.sh")
BATON = os.environ.get("BATON_BINARY") or os.path.join(ROOT, "build", "baton")
# Report pages and screenshots stay here for CI (beside the binary: build/artifacts).
ARTIFACTS = os.environ.get("BATON_ARTIFACTS") or os.path.join(os.path.dirname(os.path.abspath(BATON)), "artifacts")
SITES = ("main", "dr")
ADDRESS = {"main": "127.0.0.1", "dr": "127.0.0.2"}


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(msg):
    sys.stderr.write("    %s\n" % msg)
    sys.stderr.flush()


class Sandbox:
    """examples/postgresql/sandbox.sh up/down, and ways to look inside."""

    def __init__(self):
        self.parent = tempfile.mkdtemp(prefix="baton-e2e-")
        os.chmod(self.parent, 0o755)  # PostgreSQL's user must reach DIR
        self.dir = os.path.join(self.parent, "sandbox")
        try:
            self.sh("up")
        except BaseException:
            self.down()
            raise
        self.env = {}
        with open(os.path.join(self.dir, "env")) as f:
            for line in f:
                if "=" in line and not line.startswith("#"):
                    k, v = line.rstrip("\n").split("=", 1)
                    self.env[k] = v.strip("'")
        self.ports = {"main": int(self.env["MAIN_PGPORT"]), "dr": int(self.env["DR_PGPORT"])}
        self.runbook = self.env["RUNBOOK"]
        self.state = self.env["STATE_DIR"]
        self.app = os.path.join(self.dir, "app")

    def sh(self, *args, check=True):
        r = subprocess.run([SANDBOX, args[0], self.dir] + list(args[1:]), capture_output=True, text=True,
                           timeout=120)
        if check and r.returncode != 0:
            raise AssertionError("sandbox.sh %s failed (%d): %s%s" % (args[0], r.returncode, r.stdout, r.stderr))
        return r

    def down(self, failed=False):
        if failed and os.environ.get("E2E_KEEP"):
            log("E2E_KEEP: kept %s" % self.dir)
            return
        self.sh("down", check=False)
        shutil.rmtree(self.parent, ignore_errors=True)

    # -- baton
    def baton(self, verb, *args, env=None, timeout=300):
        e = dict(os.environ)
        e.update(env or {})
        cmd = [BATON, verb, self.runbook, "--state-dir", self.state] + list(args)
        t0 = time.monotonic()
        r = subprocess.run(cmd, capture_output=True, text=True, env=e, timeout=timeout, stdin=subprocess.DEVNULL)
        r.elapsed_ms = (time.monotonic() - t0) * 1000
        return r

    def status(self):
        """status --json; exit 3 (the hosts disagree, or no primary) still reports."""
        r = self.baton("status", "--json")
        assert r.returncode in (0, 3), r.stderr
        return json.loads(r.stdout)

    def records(self):
        """The last run's journal records."""
        r = self.baton("report", "--json")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)["records"]

    # -- PostgreSQL
    def connect(self, site, timeout=2):
        c = psycopg2.connect(host=ADDRESS[site], port=self.ports[site], user="postgres", dbname="postgres",
                             connect_timeout=timeout)
        c.autocommit = True
        return c

    def query(self, site, sql, args=None):
        c = self.connect(site)
        try:
            cur = c.cursor()
            cur.execute(sql, args)
            return cur.fetchall()
        finally:
            c.close()

    def one(self, site, sql, args=None):
        rows = self.query(site, sql, args)
        return rows[0][0] if rows else None

    def wait(self, what, fn, timeout=30):
        t0 = time.monotonic()
        last = None
        while time.monotonic() - t0 < timeout:
            try:
                last = fn()
                if last:
                    return last
            except psycopg2.Error as e:
                last = e
            time.sleep(0.02)
        raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))

    def postmaster_pid(self, site):
        with open(os.path.join(self.dir, site, "data", "postmaster.pid")) as f:
            return int(f.readline())

    def notices(self):
        return [rec["reason"] for rec in self.records() if rec.get("event") == "notice"]

    def step_records(self, step):
        return [rec for rec in self.records() if rec.get("event") == "step_finished" and rec.get("step") == step
                and not rec.get("rollback")]

    def set_var(self, name, value, site=None):
        """Sets a runbook variable: [vars], or one site's host vars."""
        with open(self.runbook) as f:
            text = f.read()
        section = "[sites.%s.hosts.db.vars]\n" % site if site else "[vars]\n"
        assert section in text
        head, body = text.split(section, 1)
        end = body.find("\n[")
        block, rest = (body, "") if end < 0 else (body[:end + 1], body[end + 1:])
        lines = [ln for ln in block.split("\n") if not ln.startswith(name + " = ")]
        text = head + section + '%s = "%s"\n' % (name, value) + "\n".join(lines) + rest
        with open(self.runbook, "w") as f:
            f.write(text)

    def fake_pgbin(self, name, **scripts):
        """A copy of PGBIN (symlinks) with some programs replaced by scripts."""
        fake = os.path.join(self.dir, name)
        os.mkdir(fake)
        pgbin = self.env["PGBIN"]
        for prog in os.listdir(pgbin):
            if prog not in scripts:
                os.symlink(os.path.join(pgbin, prog), os.path.join(fake, prog))
        for prog, body in scripts.items():
            with open(os.path.join(fake, prog), "w") as f:
                f.write("#!/bin/sh\n" + body + "\n")
            os.chmod(os.path.join(fake, prog), 0o755)
        os.chmod(fake, 0o755)
        return fake

    def as_pg(self, *cmd, check=True):
        if os.getuid() == 0:
            cmd = ("runuser", "-u", self.env["SANDBOX_USER"], "--") + cmd
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            raise AssertionError("%s failed: %s%s" % (cmd, r.stdout, r.stderr))
        return r

    def alter_system(self, site, setting, value=None, restart=False):
        """ALTER SYSTEM SET (or RESET with value None), then reload or restart."""
        c = self.connect(site)
        try:
            cur = c.cursor()
            if value is None:
                cur.execute("ALTER SYSTEM RESET %s" % setting)
            else:
                cur.execute("ALTER SYSTEM SET %s = %%s" % setting, (value,))
            if not restart:
                cur.execute("SELECT pg_reload_conf()")
        finally:
            c.close()
        if restart:
            self.sh("pg-stop", site)
            self.sh("pg-start", site)

    def kept_ids(self, kept):
        """The writer's ids in a kept data directory, read as the example's
        README says: start a copy on a private socket, query it, stop it."""
        copy = kept + ".read"
        self.as_pg("cp", "-a", kept, copy)
        sock = os.path.join(os.path.dirname(kept), "ks")
        self.as_pg("mkdir", "-p", sock)
        port = str(free_port())
        opts = "-c port=%s -c listen_addresses='' -c unix_socket_directories=%s -c archive_mode=off" % (port, sock)
        self.as_pg(os.path.join(self.env["PGBIN"], "pg_ctl"), "-D", copy, "-o", opts, "-l", copy + ".log", "-w",
                   "-t", "60", "start")
        try:
            r = self.as_pg(os.path.join(self.env["PGBIN"], "psql"), "-XAtq", "-h", sock, "-p", port, "-U", "postgres",
                           "-d", "postgres", "-c", "SELECT id FROM writer_probe")
            return {int(x) for x in r.stdout.split()}
        finally:
            self.as_pg(os.path.join(self.env["PGBIN"], "pg_ctl"), "-D", copy, "-m", "immediate", "-w", "stop",
                       check=False)

    def kept_dirs(self, site):
        return sorted(d for d in os.listdir(os.path.join(self.dir, site)) if d.startswith("data."))

    # -- the demo application
    def writer_start(self):
        self.sh("writer-start")

    def writer_stop(self):
        r = self.sh("writer-stop", check=False)
        with open(os.path.join(self.app, "summary.json")) as f:
            return json.load(f), r.stdout

    def acked(self):
        with open(os.path.join(self.app, "acked")) as f:
            return [int(x) for x in f.read().split()]

    def missing(self, site, ids):
        if not ids:
            return []
        present = {r[0] for r in self.query(site, "SELECT id FROM writer_probe WHERE id = ANY(%s)", (ids,))}
        return [i for i in ids if i not in present]

    def writes_on(self, site):
        """The writer's acks keep arriving on site."""
        m0 = self.one(site, "SELECT coalesce(max(id), 0) FROM writer_probe")
        return self.wait("writes on " + site,
                         lambda: self.one(site, "SELECT coalesce(max(id), 0) FROM writer_probe") > m0, 10)


class Sampler(threading.Thread):
    """Every ~20 ms asks both servers whether they are a primary that takes
    connections; records any moment where both were."""

    def __init__(self, sb):
        super().__init__(daemon=True)
        self.sb = sb
        self.stop_ev = threading.Event()
        self.samples = 0
        self.both = []          # sample times where two primaries answered
        self.primaries = []     # (time, [sites]) whenever the set changed
        self.conns = {}

    def is_primary(self, site):
        c = self.conns.get(site)
        try:
            if c is None:
                c = self.conns[site] = self.sb.connect(site, timeout=1)
            cur = c.cursor()
            cur.execute("SELECT NOT pg_is_in_recovery()")
            return cur.fetchone()[0]
        except psycopg2.Error:
            if c is not None:
                try:
                    c.close()
                except psycopg2.Error:
                    pass
            self.conns.pop(site, None)
            return False

    def run(self):
        while not self.stop_ev.is_set():
            p = [s for s in SITES if self.is_primary(s)]
            self.samples += 1
            if len(p) > 1:
                self.both.append(time.time())
            if not self.primaries or self.primaries[-1][1] != p:
                self.primaries.append((time.time(), p))
            self.stop_ev.wait(0.02)

    def stop(self):
        self.stop_ev.set()
        self.join(5)
        for c in self.conns.values():
            try:
                c.close()
            except psycopg2.Error:
                pass


class PostgresE2E(unittest.TestCase):
    def setUp(self):
        self.sb = Sandbox()
        self.addCleanup(lambda: self.sb.down(failed=self.failed()))
        self.sampler = None

    def failed(self):
        r = self._outcome.result
        return any(t is self for t, _ in r.failures + r.errors)

    def start_sampler(self):
        self.sampler = Sampler(self.sb)
        self.sampler.start()
        self.addCleanup(self.sampler.stop)

    # -- assertions shared by the tests
    def assert_ok(self, r, what):
        self.assertEqual(r.returncode, 0, "%s failed (%d):\n%s\n%s" % (what, r.returncode, r.stdout, r.stderr))

    def assert_primary_and_streaming(self, primary, standby):
        st = self.sb.status()
        self.assertEqual((st["source"], st["target"], st["stale"]), (primary, standby, ""))
        self.assertFalse(self.sb.one(primary, "SELECT pg_is_in_recovery()"))
        self.assertTrue(self.sb.one(standby, "SELECT pg_is_in_recovery()"))
        rcv = self.sb.wait("%s streams from %s" % (standby, primary), lambda: self.sb.query(
            standby, "SELECT status, sender_host FROM pg_stat_wal_receiver WHERE status = 'streaming'"))
        self.assertEqual(rcv[0], ("streaming", ADDRESS[primary]))
        snd = self.sb.wait("%s sends to %s" % (primary, standby), lambda: self.sb.query(
            primary, "SELECT application_name, state FROM pg_stat_replication WHERE state = 'streaming'"))
        self.assertEqual(snd, [(standby, "streaming")])
        # Slots follow the roles: the primary has an active one for its standby,
        # the standby keeps none that would hold WAL.
        slots = self.sb.wait("the slot of %s active on %s" % (standby, primary), lambda: (lambda r: r if r == [(
            "baton_" + standby, True)] else None)(self.sb.query(primary, "SELECT slot_name, active FROM pg_replication_slots")))
        self.assertEqual(slots, [("baton_" + standby, True)])
        self.assertEqual(self.sb.query(standby, "SELECT slot_name FROM pg_replication_slots"), [])

    def assert_nothing_lost(self, site, ids, what):
        lost = self.sb.missing(site, ids)
        self.assertEqual(lost, [], "%d of %d acknowledged ids missing on %s (%s)" % (len(lost), len(ids), site, what))

    def failover_accepting_loss(self, *args):
        """A failover; when Baton measured a loss over the RPO it stops before
        the promote (exit 4, the loss named), and a resume accepts it.
        Returns the loss Baton measured, in bytes (None: unknown)."""
        r = self.sb.baton("failover", "--yes", *args)
        if r.returncode == 4:
            self.assertIn("promoting now loses", r.stderr)
            self.assertTrue(self.sb.one("dr", "SELECT pg_is_in_recovery()"), "promoted before the loss was accepted")
            r = self.sb.baton("resume", "--yes", "--accept-data-loss")
        self.assert_ok(r, "failover")
        return self.measured_loss()

    def measured_loss(self):
        m = [rec["data_loss_text"] for rec in self.sb.step_records("measure-data-loss") if rec.get("status") == "ok"]
        self.assertEqual(len(m), 1, m)
        if m[0].startswith("unknown"):
            return None
        self.assertRegex(m[0], r"^\d+ bytes of WAL lost \(standby received up to [0-9A-F]+/[0-9A-F]+")
        return int(m[0].split()[0])

    def assert_one_primary(self):
        self.assertGreater(self.sampler.samples, 10)
        self.assertEqual(self.sampler.both, [], "two primaries accepted connections at once: %s" % self.sampler.primaries)

    def report_in_browser(self, tag, expect):
        """The last run's `report --html`, loaded by headless chromium (Debian's):
        it renders with no console message and fetches nothing; the rendered
        page holds each of `expect`. Page and screenshot stay in ARTIFACTS."""
        r = self.sb.baton("report", "--html")
        self.assertEqual(r.returncode, 0, r.stderr)
        os.makedirs(ARTIFACTS, exist_ok=True)
        page = os.path.join(ARTIFACTS, "e2e-%s.html" % tag)
        with open(page, "w") as f:
            f.write(r.stdout)
        for action in (["--dump-dom"], ["--window-size=1200,1600", "--screenshot=" + page[:-5] + ".png"]):
            c = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
                                "--v=0"] + action + ["file://" + page], capture_output=True, text=True, timeout=120,
                               stdin=subprocess.DEVNULL, cwd=ARTIFACTS)
            self.assertEqual(c.returncode, 0, c.stderr)
            for bad in (":CONSOLE", "Uncaught", "net::ERR"):
                self.assertNotIn(bad, c.stderr)
            if action == ["--dump-dom"]:
                for text in expect:
                    self.assertIn(text, c.stdout)
        self.assertGreater(os.path.getsize(page[:-5] + ".png"), 10000)

    def switchover(self, old, new):
        """One switchover under writes, with every check."""
        r = self.sb.baton("switchover", "--yes")
        self.assert_ok(r, "switchover %s -> %s" % (old, new))
        acked = self.sb.acked()
        self.assert_nothing_lost(new, acked, "switchover %s -> %s" % (old, new))
        self.sb.writes_on(new)
        self.assert_primary_and_streaming(new, old)
        return r

    # ---------------------------------------------------------------- tests
    def test_switchover_and_back_under_writes(self):
        sb = self.sb
        sb.writer_start()
        self.start_sampler()
        time.sleep(0.5)
        r1 = self.switchover("main", "dr")
        # The auditor's page of this switchover, in a real browser.
        self.report_in_browser("switchover", [
            "switchover of pg-sandbox", "completed: production moved from main to dr",
            "source <b>main</b>, target <b>dr</b>", "source <b>dr</b>, target <b>main</b>", "promote-standby",
            "writes blocked", "Cost = (To + Td) x (Hr + Lr) = (", "2000 + 150 EUR/h", ">met<"])
        time.sleep(0.5)
        r2 = self.switchover("dr", "main")
        time.sleep(0.3)
        summary, out = sb.writer_stop()
        self.assert_nothing_lost("main", sb.acked(), "end")
        self.assert_one_primary()
        hosts = [h for _, h in summary["hosts"]]
        self.assertEqual([h.split(":")[0] for h in hosts], ["127.0.0.1", "127.0.0.2", "127.0.0.1"])
        gaps = sorted(g["ms"] for g in summary["gaps_over_50ms"] if g["from_host"] != g["to_host"])
        log("switchovers took %.0f ms and %.0f ms (baton's own runs); writer: %d acked, switch gaps %s ms, "
            "%d samples, primaries %s" % (r1.elapsed_ms, r2.elapsed_ms, summary["acked"], gaps,
                                          self.sampler.samples, [p for _, p in self.sampler.primaries]))
        # A loose bound: the sandbox shares 2 cores with the test.
        self.assertLess(summary["max_gap_ms"], 3000, out)

        # Another machine (a fresh state directory) runs the next switchover:
        # it takes the roles from the probe.
        other = os.path.join(sb.dir, "state2")
        os.mkdir(other, 0o700)
        r = subprocess.run([BATON, "switchover", sb.runbook, "--state-dir", other, "--yes"], capture_output=True,
                           text=True, timeout=300, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("no roles stored yet: the probe sees main.db primary", r.stdout)
        self.assertFalse(sb.one("dr", "SELECT pg_is_in_recovery()"))
        self.assertTrue(sb.one("main", "SELECT pg_is_in_recovery()"))
        # The first state directory is now behind the hosts: it says so.
        r = sb.baton("switchover", "--yes")
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn("baton adopt %s --state-dir %s --source dr" % (sb.runbook, sb.state), r.stderr)

    def test_failover_after_kill9_then_reverse_sync(self):
        sb = self.sb
        sb.writer_start()
        self.start_sampler()
        time.sleep(0.5)
        os.kill(sb.postmaster_pid("main"), signal.SIGKILL)
        time.sleep(0.1)
        before = len(sb.acked())
        r = sb.baton("failover")          # no terminal, no --yes: the confirmation stops it
        self.assertEqual(r.returncode, 4, r.stdout + r.stderr)
        t0 = time.monotonic()
        loss = self.failover_accepting_loss()
        st = sb.status()
        self.assertEqual((st["source"], st["target"], st["stale"]), ("dr", "main", "main"))
        self.assertFalse(sb.one("dr", "SELECT pg_is_in_recovery()"))
        sb.writes_on("dr")
        # The loss is on record: in the journal, and in the text report.
        self.assertIn("rpo = ", sb.baton("report").stdout)
        acked = sb.acked()
        lost = sb.missing("dr", acked)
        log("failover took %.0f ms; loss measured: %s bytes; acked ids lost: %d of %d"
            % ((time.monotonic() - t0) * 1000, loss, len(lost), len(acked)))
        # Nothing acknowledged is lost without Baton saying so.
        self.assertIsNotNone(loss)
        if loss == 0:
            self.assertEqual(lost, [])
        self.assertTrue(all(i < acked[before] for i in lost) if len(acked) > before else True)
        # The stale side blocks a switchover until reverse-sync.
        r = sb.baton("switchover", "--yes")
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn("stale", r.stderr)
        r = sb.baton("reverse-sync", "--yes")
        self.assert_ok(r, "reverse-sync")
        log("reverse-sync took %.0f ms" % r.elapsed_ms)
        self.assert_primary_and_streaming("dr", "main")
        # Whatever only main had is kept, and said so; nothing otherwise.
        kept = sb.kept_dirs("main")
        if lost:
            self.assertEqual(len(kept), 1, kept)
            self.assertTrue(any(kept[0] in n for n in sb.notices()), sb.notices())
            self.assertLessEqual(set(lost), sb.kept_ids(os.path.join(sb.dir, "main", kept[0])))
        summary, _ = sb.writer_stop()
        after = sb.acked()[before:]
        self.assert_nothing_lost("dr", [i for i in after if i not in lost], "after the failover")
        self.assert_one_primary()
        # And the pair can switch back.
        r = sb.baton("switchover", "--yes")
        self.assert_ok(r, "switch back after reverse-sync")
        self.assert_primary_and_streaming("main", "dr")

    def test_failover_with_old_site_unreachable_then_two_primaries(self):
        """Scenario 4: a failover while main's host is unreachable; later main
        comes back as a primary and takes writes: split brain, named and
        refused; once it is stopped, the reverse-sync keeps what it took."""
        sb = self.sb
        main_sshd = os.path.join(sb.dir, "ssh", "main_sshd")
        with open(main_sshd + ".pid") as f:
            os.kill(int(f.read()), signal.SIGTERM)   # main's host "unreachable", its PostgreSQL up
        r = sb.baton("failover", "--yes")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("still accepts connections", r.stdout)
        self.assertTrue(sb.one("dr", "SELECT pg_is_in_recovery()"), "promoted next to a live primary")
        st = sb.status()
        self.assertEqual(st["source"], "main")
        self.assertEqual(st["probe"]["verdict"], "no_primary")   # main's host does not answer
        self.assertIn("unreachable", [h for h in st["probe"]["hosts"] if h["host"] == "main.db"][0]["detail"])
        os.kill(sb.postmaster_pid("main"), signal.SIGKILL)   # now it is really down
        # Its WAL end cannot be read: the loss is unknown, so rpo = "0s" stops it.
        r = sb.baton("resume", "--yes")
        self.assertEqual(r.returncode, 4, r.stdout + r.stderr)
        self.assertIn("promoting now loses an unknown amount", r.stderr)
        self.assertTrue(sb.one("dr", "SELECT pg_is_in_recovery()"))
        r = sb.baton("resume", "--yes", "--accept-data-loss")
        self.assert_ok(r, "resume of the failover")
        self.assertFalse(sb.one("dr", "SELECT pg_is_in_recovery()"))
        st = sb.status()
        self.assertEqual((st["source"], st["stale"]), ("dr", "main"))
        self.assertIsNone(self.measured_loss())
        self.assertIn("unknown", sb.baton("report").stdout)
        sb.query("dr", "CREATE TABLE after_failover AS SELECT 1 AS x; SELECT 1")

        # Main's host and PostgreSQL come back: a second primary, and the
        # writer (main first in its host list) writes there.
        subprocess.run([os.environ.get("SSHD", "/usr/sbin/sshd"), "-f", main_sshd + "_config", "-E",
                        main_sshd + ".log"], check=True)
        sb.sh("pg-start", "main")
        self.assertFalse(sb.one("main", "SELECT pg_is_in_recovery()"), "main must be back as a primary")
        sb.writer_start()
        sb.writes_on("main")
        for verb in ("status", "check"):
            r = sb.baton(verb)
            self.assertEqual(r.returncode, 3, "%s: %s %s" % (verb, r.stdout, r.stderr))
            self.assertIn("split brain: main.db and dr.db are both primary", r.stdout, verb)
            self.assertNotIn("unreachable", r.stdout + r.stderr, verb)
        st = json.loads(sb.baton("status", "--json").stdout)
        self.assertEqual(st["probe"]["verdict"], "split_brain")
        self.assertEqual(sorted(h["role"] for h in st["probe"]["hosts"]), ["primary", "primary"])
        for verb in ("switchover", "reverse-sync"):
            r = sb.baton(verb, "--yes")
            self.assertEqual(r.returncode, 3, "%s: %s %s" % (verb, r.stdout, r.stderr))
            self.assertIn("split brain", r.stderr, verb)
        self.assertFalse(sb.one("main", "SELECT pg_is_in_recovery()"))   # nothing was touched
        self.assertEqual(sb.one("dr", "SELECT x FROM after_failover"), 1)

        # The way forward: stop main; the reverse-sync keeps what it took.
        sb.sh("pg-stop", "main")
        sb.writes_on("dr")
        r = sb.baton("reverse-sync", "--yes")
        self.assert_ok(r, "reverse-sync after the split brain")
        self.assert_primary_and_streaming("dr", "main")
        sb.writer_stop()
        lost = sb.missing("dr", sb.acked())
        kept = sb.kept_dirs("main")
        notes = [n for n in sb.notices() if "diverged" in n]
        log("split brain: %d ids acked on main alone; kept %s; %s" % (len(lost), kept, notes))
        self.assertGreater(len(lost), 0)
        self.assertEqual(len(kept), 1, kept)
        self.assertEqual(len(notes), 1, notes)
        self.assertRegex(notes[0], r"main\.db diverged from the new primary: [1-9]\d* bytes of WAL after the fork at "
                                   r"[0-9A-F]+/[0-9A-F]+ on timeline 1")
        self.assertIn(os.path.join(sb.dir, "main", kept[0]), notes[0])
        self.assertLessEqual(set(lost), sb.kept_ids(os.path.join(sb.dir, "main", kept[0])))

    def test_drill_leaves_production_untouched(self):
        sb = self.sb
        sb.query("main", "INSERT INTO writer_probe (id) SELECT g FROM generate_series(1, 500) g RETURNING 0")
        checksum_sql = "SELECT md5(string_agg(id || '@' || at, ',' ORDER BY id)) FROM writer_probe"
        repl_sql = ("SELECT application_name, state, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) "
                    "FROM pg_stat_replication")

        def replication():
            return sb.wait("the standby to catch up", lambda: (lambda r: r if r and r[0][2] == 0 else None)(
                sb.query("main", repl_sql)))

        before = (sb.one("main", checksum_sql), replication())
        self.assertEqual(before[1], [("dr", "streaming", 0)])
        clone = sb.env["DRILL_DIR_DR"]

        # Scenario 12: the clone cannot start (its port is taken): the drill
        # fails within seconds, quotes PostgreSQL, and the log survives the cleanup.
        import socket
        taken = socket.socket()
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.2", int(sb.env["DRILL_PORT"])))
        taken.listen(1)
        try:
            r = sb.baton("drill")
        finally:
            taken.close()
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertLess(r.elapsed_ms, 30000)
        clone_step = [rec for rec in sb.step_records("drill-clone-standby")][-1]
        self.assertEqual(clone_step["status"], "failed")
        self.assertLess(clone_step["duration_ms"], 15000, clone_step)
        self.assertIn("Address already in use", clone_step.get("stderr_tail", ""))
        self.assertIn("exited while starting", r.stderr)
        self.assertIn(clone + ".log", r.stderr)
        self.assert_no_clone(clone)
        with open(clone + ".log") as f:
            self.assertIn("could not create any TCP/IP sockets", f.read())
        self.assertIn("aborted", sb.baton("resume", "--abort").stderr)

        # A drill whose application checks fail still removes its clone.
        with open(sb.runbook) as f:
            text = f.read()
        with open(sb.runbook, "w") as f:
            f.write(text.replace("app_smoke = '", "app_smoke = 'false && "))
        r = sb.baton("drill")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("drill-remove-clone", r.stdout)
        self.assert_no_clone(clone)
        r = sb.baton("resume", "--abort")
        self.assertIn("aborted", r.stdout + r.stderr)
        with open(sb.runbook, "w") as f:
            f.write(text)

        r = sb.baton("drill")
        self.assert_ok(r, "drill")
        self.assert_no_clone(clone)
        recs = [rec for rec in sb.records() if rec.get("event") == "step_finished" and rec.get("status") == "ok"]
        done = [rec["step"] for rec in recs]
        for step in ("drill-clone-standby", "drill-promote-clone", "drill-app-checks", "drill-remove-clone"):
            self.assertIn(step, done)
        took = [rec["captures"]["drill_recovery_ms"] for rec in recs if "drill_recovery_ms" in rec.get("captures", {})]
        self.assertEqual(len(took), 1)
        self.assertGreater(int(took[0]), 0)
        after = (sb.one("main", checksum_sql), replication())
        self.assertEqual(before, after)
        st = sb.status()
        self.assertEqual((st["source"], st["target"], st["stale"]), ("main", "dr", ""))
        self.assertEqual(sb.one("dr", "SELECT status FROM pg_stat_wal_receiver"), "streaming")
        log("drill took %.0f ms; clone cloned, promoted and checked in %s ms" % (r.elapsed_ms, took[0]))

    def assert_no_clone(self, clone):
        self.assertFalse(os.path.exists(clone), clone + " left behind")
        left = []
        for p in os.listdir("/proc"):
            if p.isdigit():
                try:
                    cwd = os.readlink("/proc/%s/cwd" % p)
                except OSError:
                    continue
                if cwd == clone or cwd.startswith(clone + "/"):
                    left.append(p)
        self.assertEqual(left, [], "processes left in the clone's directory")

    def test_sigkill_during_switchover_then_resume(self):
        sb = self.sb
        sb.writer_start()
        self.start_sampler()
        time.sleep(0.3)
        # Roles on record first, so that every run's journal has the same
        # records (a first run also records the roles the probe found).
        self.assert_ok(sb.baton("adopt", "--source", "main", "--yes"), "adopt")
        # A clean switchover shows where the journal boundaries are.
        self.switchover("main", "dr")
        # BATON_CRASH_AFTER_RECORD does not count connects (they end in any order).
        ref = [r for r in sb.records() if r.get("event") != "host_connected"]
        points = []
        for i, rec in enumerate(ref, 1):
            ev, step = rec.get("event"), rec.get("step")
            if (ev, step) in (("step_started", "stop-primary"), ("step_finished", "stop-primary"),
                              ("step_finished", "standby-has-checkpoint"), ("step_started", "start-app"),
                              ("step_started", "rejoin-old-primary"), ("step_finished", "rejoin-old-primary")):
                points.append((i, "%s %s" % (ev, step)))
            if ev == "roles_changed" and rec.get("source") == "dr":  # promote done, the new roles not yet saved
                points.append((i - 1, "before the roles are saved"))
        self.assertEqual(len(points), 7, points)
        old, new = "dr", "main"
        for n, what in points:
            r = sb.baton("switchover", "--yes", env={"BATON_CRASH_AFTER_RECORD": str(n)})
            self.assertEqual(r.returncode, -signal.SIGKILL, "expected a SIGKILL after record %d (%s): %s %s"
                             % (n, what, r.stdout, r.stderr))
            if what == "before the roles are saved":
                # Scenario 7: killed right after the promote. A rollback refuses
                # (a promote has no undo), names the promoted host, and leaves
                # the forward resume open.
                r = sb.baton("resume", "--rollback")
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                self.assertIn("promote step promote-standby promoted %s.db and has no undo" % new, r.stderr)
                self.assertIn("`baton resume %s --state-dir %s` goes on" % (sb.runbook, sb.state), r.stderr)
                promoted_at = n
            r = sb.baton("resume", "--yes")
            # The step Baton was killed in may still run: resume waits for it.
            for _ in range(300):
                if r.returncode != 1 or "still running" not in r.stderr:
                    break
                time.sleep(0.1)
                r = sb.baton("resume", "--yes")
            self.assert_ok(r, "resume after a crash after record %d (%s)" % (n, what))
            self.assert_nothing_lost(new, sb.acked(), "crash after %s" % what)
            sb.writes_on(new)
            self.assert_primary_and_streaming(new, old)
            log("crash after record %d (%s): resumed in %.0f ms, %s primary" % (n, what, r.elapsed_ms, new))
            old, new = new, old
        # Killed after the promote again, and the run is aborted: the roles
        # are recorded as the probe sees them, and the abort names what it
        # leaves as it is; the next operation starts from there.
        r = sb.baton("switchover", "--yes", env={"BATON_CRASH_AFTER_RECORD": str(promoted_at)})
        self.assertEqual(r.returncode, -signal.SIGKILL, r.stdout + r.stderr)
        r = sb.baton("resume", "--abort")
        self.assert_ok(r, "abort after the promote")
        self.assertIn("roles recorded as the probe sees them: source %s, target %s" % (new, old), r.stdout + r.stderr)
        self.assertIn("stop-app on %s.db" % old, r.stderr)
        st = sb.status()
        self.assertEqual((st["source"], st["target"], st["stale"]), (new, old, old))
        self.assert_ok(sb.baton("reverse-sync", "--yes"), "reverse-sync after the abort")
        os.remove(os.path.join(sb.app, "stop"))   # app.sh start: what the abort said was left stopped
        sb.writes_on(new)
        self.assert_primary_and_streaming(new, old)
        sb.writer_stop()
        self.assert_nothing_lost(new, sb.acked(), "end")
        self.assert_one_primary()


if __name__ == "__main__":
    unittest.main(verbosity=2)
