#!/usr/bin/python3
"""End-to-end tests of examples/postgresql: the ways switchovers and failovers
go wrong for real users (examples/postgresql/README.md, "What can go wrong"),
each reduced to a scenario on the sandbox under its writer, with the outcome
that must hold: nothing acknowledged lost without Baton saying so, never two
writable primaries made by Baton, no false "completed", always a way forward.

Scenarios that can share a sandbox share one (each sandbox costs ~10 s).
The sandbox, the helpers and BATON_BINARY / E2E_KEEP are those of
test_postgresql.py.
"""
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_postgresql import PostgresE2E, log  # noqa: E402

# PostgresE2E's own tests run in test_postgresql.py; only the ones below here.
for name in [n for n in vars(PostgresE2E) if n.startswith("test_")]:
    delattr(PostgresE2E, name)


class PostgresFailures(PostgresE2E):

    def test_lossy_failover_then_a_rejoin_that_cannot_catch_up(self):
        """Scenario 2: failover to a standby that lags; 3: the reverse-sync keeps
        what only the old primary had; 5: the new primary recycled the WAL the
        rewound old primary needs; 8: the rebuild fails half way (no space),
        then resumes."""
        sb = self.sb
        sb.writer_start()
        self.start_sampler()
        time.sleep(0.3)
        # dr's WAL receiver stops; main goes on committing, then dies.
        conninfo = sb.one("dr", "SHOW primary_conninfo")
        sb.alter_system("dr", "primary_conninfo", "")
        sb.wait("dr's WAL receiver to stop", lambda: not sb.query("dr", "SELECT 1 FROM pg_stat_wal_receiver"))
        n0 = len(sb.acked())
        sb.wait("commits dr does not get", lambda: len(sb.acked()) > n0 + 200, 20)
        os.kill(sb.postmaster_pid("main"), signal.SIGKILL)
        time.sleep(0.1)

        # rpo = "0s": the failover stops before the promote and names the loss.
        r = sb.baton("failover", "--yes")
        self.assertEqual(r.returncode, 4, r.stdout + r.stderr)
        self.assertRegex(r.stderr, r"promoting now loses \d+ (bytes|[kMG]B)")
        self.assertIn("--accept-data-loss", r.stderr)
        self.assertTrue(sb.one("dr", "SELECT pg_is_in_recovery()"))
        r = sb.baton("resume", "--yes", "--accept-data-loss")
        self.assert_ok(r, "failover, loss accepted")
        loss = self.measured_loss()
        self.assertIn("RPO 0s: missed", r.stdout + r.stderr)
        lost = sb.missing("dr", sb.acked())
        log("lagging standby: measured %s bytes of WAL lost; %d acked ids lost" % (loss, len(lost)))
        self.assertGreater(len(lost), 0)
        self.assertGreater(loss, 0)
        self.report_in_browser("lossy-failover", [
            "failover of pg-sandbox", "completed: production moved from main to dr, losing ",
            "missed by", "stale <b>main</b>", "measure-data-loss", "promote-standby",
            "is not a time window: Td taken as 0", "Cost = (To + Td) x (Hr + Lr) = ("])
        sb.alter_system("dr", "primary_conninfo", conninfo)  # this host's own setting, for later

        # The new primary keeps no WAL for main and recycles what it had.
        sb.alter_system("dr", "wal_keep_size", "0")
        for _ in range(4):
            sb.writes_on("dr")
            sb.query("dr", "SELECT pg_switch_wal()")
            sb.query("dr", "CHECKPOINT; SELECT 1")
        # And a full rebuild runs out of space half way.
        full = os.path.join(sb.dir, "disk-full")
        open(full, "w").close()
        fake = sb.fake_pgbin("fakebin", pg_basebackup=(
            '[ -e %s ] || exec %s/pg_basebackup "$@"\n'
            'while [ $# -gt 0 ]; do [ "$1" = -D ] && mkdir -p "$2" && echo half >"$2/PG_VERSION"; shift; done\n'
            'echo "pg_basebackup: error: could not write to file: No space left on device" >&2\nexit 1'
            % (full, sb.env["PGBIN"])))
        sb.set_var("pgbin", fake, site="main")
        r = sb.baton("reverse-sync", "--yes")
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 1, out)
        self.assertRegex(r.stderr, r"(?s)rejoin-old-primary failed .*requested WAL segment [0-9A-F]+ has already been "
                                   r"removed.*pg_basebackup failed")
        self.assertIn("No space left on device", out)
        self.assertIn("pg_basebackup failed", out)
        self.assertNotRegex(out, r"(?i)remove (it|the|your)|rm -rf")
        self.assertTrue(os.path.exists(os.path.join(sb.dir, "main", "data", "PG_VERSION")))
        notes = [n for n in sb.notices() if "diverged" in n]
        self.assertEqual(len(notes), 1, notes)
        self.assertRegex(notes[0], r"main\.db diverged from the new primary: [1-9]\d* bytes of WAL after the fork at "
                                   r"[0-9A-F]+/[0-9A-F]+ on timeline 1 \([1-9]\d* records that change data")
        # Beside the data directory: the kept history and this host's saved
        # configuration, no half-built copy.
        kept = [k for k in sb.kept_dirs("main") if ".diverged." in k]
        self.assertEqual(len(kept), 1, sb.kept_dirs("main"))
        self.assertEqual(sb.kept_dirs("main"), ["data.baton-conf"] + kept)
        self.assertIn(os.path.join(sb.dir, "main", kept[0]), notes[0])

        # The space is back: the resumed run reaches the rebuild and completes.
        os.remove(full)
        r = sb.baton("resume", "--yes")
        self.assert_ok(r, "resumed reverse-sync")
        rejoin = sb.step_records("rejoin-old-primary")[-1]
        self.assertIn("rebuilt with pg_basebackup", rejoin["stdout_tail"])
        # (PostgreSQL's words may differ now that the rewound server replayed a little.)
        self.assertRegex(rejoin["stderr_tail"], r"PostgreSQL on main\.db: (requested WAL segment [0-9A-F]+ has already "
                                                r"been removed|requested timeline \d+ is not a child)")
        self.assert_primary_and_streaming("dr", "main")
        self.assertEqual(sb.kept_dirs("main"), kept)   # the rebuild kept nothing more

        # Every acknowledged commit that dr lacks is in the kept history.
        sb.writer_stop()
        self.assertLessEqual(set(lost), sb.kept_ids(os.path.join(sb.dir, "main", kept[0])))
        self.assertEqual(sb.missing("dr", sb.acked()), lost)
        self.assert_one_primary()

    def test_switchover_refusals_then_a_rebuild_that_keeps_nothing(self):
        """Scenario 11: the standby is not connected; 1: a recovery target on the
        standby; 10: wal_log_hints = off on the old primary; 9: slots follow
        the roles (assert_primary_and_streaming)."""
        sb = self.sb
        # 11: dr cannot connect to main.
        conninfo = sb.one("dr", "SHOW primary_conninfo")
        sb.alter_system("dr", "primary_conninfo", "host=127.0.0.1 port=1 user=postgres")
        sb.wait("dr to stop streaming", lambda: sb.one(
            "dr", "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'") == 0)
        r = sb.baton("switchover", "--yes")
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn("dr.db is not streaming from main", r.stderr)
        self.assertIn("primary_conninfo", r.stderr)
        self.assertIn("pg_hba.conf", r.stderr)
        self.assertNotIn('stdout was ""', r.stdout + r.stderr)
        sb.alter_system("dr", "primary_conninfo", conninfo)
        sb.wait("dr to stream again", lambda: sb.one(
            "dr", "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'") == 1)

        # 1: a recovery target left on dr; replay pauses there.
        sb.writer_start()
        self.start_sampler()
        time.sleep(0.3)
        # A few seconds ahead: the restarted standby must reach consistency first.
        sb.alter_system("dr", "recovery_target_time", sb.one("dr", "SELECT (now() + interval '5s')::text"),
                        restart=True)
        sb.wait("replay to pause at the target",
                lambda: sb.one("dr", "SELECT pg_get_wal_replay_pause_state()") == "paused", 30)
        r = sb.baton("switchover", "--yes")
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn("dr.db has a recovery target (recovery_target_time = ", r.stderr)
        self.assertIn("replay paused", r.stderr)
        self.assertFalse(sb.one("main", "SELECT pg_is_in_recovery()"))
        self.assertTrue(sb.one("dr", "SELECT pg_is_in_recovery()"))
        sb.alter_system("dr", "recovery_target_time", None, restart=True)
        sb.wait("dr to replay again", lambda: sb.one(
            "dr", "SELECT pg_get_wal_replay_pause_state() = 'not paused' AND "
                  "(SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming') = 1"))

        # 1b: replay paused by hand, no target: a promote would drop what is
        # received but not replayed, so it is refused too.
        sb.one("dr", "SELECT pg_wal_replay_pause()")
        sb.wait("replay to pause", lambda: sb.one("dr", "SELECT pg_get_wal_replay_pause_state()") == "paused")
        r = sb.baton("switchover", "--yes")
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn("replay is paused on dr.db (pg_wal_replay_pause() was called)", r.stderr)
        self.assertNotIn("has a recovery target", r.stderr)
        self.assertFalse(sb.one("main", "SELECT pg_is_in_recovery()"))
        sb.one("dr", "SELECT pg_wal_replay_resume()")
        sb.wait("dr to replay again", lambda: sb.one(
            "dr", "SELECT pg_get_wal_replay_pause_state() = 'not paused'"))

        # 10: main cannot be rewound: warned up front, rebuilt, nothing kept.
        sb.alter_system("main", "wal_log_hints", "off", restart=True)
        sb.writes_on("main")
        sb.wait("dr to stream again", lambda: sb.one(
            "dr", "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'") == 1)
        r = self.switchover("main", "dr")
        notes = sb.notices()
        self.assertTrue(any("main.db has wal_log_hints = off and no data checksums" in n for n in notes), notes)
        self.assertIn("wal_log_hints = off", r.stdout)  # shown as it happens
        rejoin = sb.step_records("rejoin-old-primary")[-1]
        self.assertIn("rebuilt with pg_basebackup", rejoin["stdout_tail"])
        self.assertEqual(sb.kept_dirs("main"), [], "a clean switchover diverges in nothing: nothing is kept")
        self.assertFalse(any("diverged" in n for n in notes), notes)
        # The switchover's loss was measured: 0 bytes, the RPO met.
        self.assertIn("RPO 0s: met (lost 0 bytes)", r.stdout + r.stderr)
        sb.writer_stop()
        self.assert_nothing_lost("dr", sb.acked(), "end")
        self.assert_one_primary()

    def test_shutdown_that_cannot_finish(self):
        """Scenario 6: archive_command hangs, the primary cannot finish its
        shutdown. (7, Baton killed after the promote, is in
        test_postgresql.py's SIGKILL test.)"""
        sb = self.sb
        flag = os.path.join(sb.dir, "app", "archive-hangs")
        open(flag, "w").close()
        os.chmod(flag, 0o644)
        sb.alter_system("main", "archive_mode", "on")
        sb.alter_system("main", "archive_command", "while [ -e %s ]; do sleep 0.1; done" % flag, restart=True)
        sb.set_var("stop_timeout_s", "3")
        sb.wait("dr to stream again", lambda: sb.one(
            "dr", "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'") == 1)
        sb.writer_start()
        self.start_sampler()
        sb.writes_on("main")
        sb.query("main", "SELECT pg_switch_wal()")   # a segment the archiver cannot archive
        r = sb.baton("switchover", "--yes")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stderr, r"the primary did not stop within 3 s; it still runs: .*archiver")
        self.assertIn("while [ -e", r.stderr)      # what the archiver runs
        self.assertIn("--rollback", r.stderr)       # the hint
        self.assertTrue(sb.one("dr", "SELECT pg_is_in_recovery()"))
        # Still shutting down: not rolled back, and says why.
        r = sb.baton("resume", "--rollback")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("main.db is still shutting down", r.stderr)
        self.assertNotIn("rolled back", r.stderr.splitlines()[0] if r.stderr else "")
        self.assertNotIn("was rolled back", r.stderr)
        os.remove(flag)   # the archive works again
        r = sb.baton("resume", "--rollback")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)   # the switchover did not happen
        self.assertIn("switchover was rolled back", r.stderr)
        self.assertRegex(r.stdout, r"probe main\.db +primary")
        self.assertFalse(sb.one("main", "SELECT pg_is_in_recovery()"))
        sb.writes_on("main")
        self.assert_nothing_lost("main", sb.acked(), "rolled back switchover")

        self.assert_primary_and_streaming("main", "dr")
        sb.writer_stop()
        self.assert_nothing_lost("main", sb.acked(), "end")
        self.assert_one_primary()


if __name__ == "__main__":
    unittest.main(verbosity=2)
