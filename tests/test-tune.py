#!/usr/bin/env python3
"""End-to-end tests of `samplernn tune` on small synthetic audio: a study with pruning, two
workers on SQLite, two workers on a PostgreSQL server started here, Ctrl-C and a dead worker
continued by a rerun, and bad search spaces. Without Optuna (a Python that is not Debian's,
say on a GPU machine) they are skipped, saying so: exit code 77, ctest's SKIP_RETURN_CODE.

    SRNN_BIN=build/cli/samplernn /usr/bin/python3 tests/test-tune.py [TestTune.test_name]
"""

import glob
import json
import math
import os
import pwd
import random
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import sys
import unittest
import wave

try:
    import optuna
except ImportError:
    print("SKIPPED: %s has no Optuna (Debian's python3-optuna; scripts/install-deps.sh)" % sys.executable)
    sys.exit(77)

BIN = os.environ.get("SRNN_BIN", "build/cli/samplernn")
optuna.logging.set_verbosity(optuna.logging.ERROR)

# A space of 2 x 2 x 2 = 8 tiny models that train in about a second per epoch.
SPACE = ["--frame_sizes", "4", "16", "--frame_sizes", "8", "32", "--batch_size", "2", "--seq_len", "64",
         "--dim", "16", "32", "--num_rnn_layers", "1", "--rnn_type", "gru", "--q_type", "mu-law",
         "--rnn_dropout", "0", "--learning_rate", "0.01", "0.00001", "--skip_conn", "False"]


def write_album(folder, n_files=10, seconds=0.5, rate=16000):
    os.makedirs(folder, exist_ok=True)
    rng = random.Random(1)
    for i in range(n_files):
        f0 = 110.0 * (1 + i % 4)
        frames = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * f0 * n / rate) + rng.gauss(0, 300)))
                          for n in range(int(seconds * rate)))
        with wave.open(os.path.join(folder, "f%02d.wav" % i), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(frames)


def read_json(path):
    with open(path) as f:
        return json.load(f)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TuneCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="srnn-tune-")
        self.data = os.path.join(self.tmp, "data")
        write_album(self.data)
        self.logdir = os.path.join(self.tmp, "tune")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def args(self, study_id, *extra):
        return [BIN, "tune", "--data_dir", self.data, "--logdir", self.logdir, "--id", study_id,
                "--val_frac", "0.2", "--rng_seed", "1", "--verbose", "1"] + SPACE + list(extra)

    def tune(self, study_id, *extra, check=True):
        r = subprocess.run(self.args(study_id, *extra), capture_output=True, text=True, timeout=600)
        if check:
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r

    def start(self, study_id, *extra):
        """A worker in the background; returns it and the path of its output."""
        log_path = os.path.join(self.tmp, "%s-%d.log" % (study_id, time.monotonic_ns()))
        with open(log_path, "w") as log:
            return subprocess.Popen(self.args(study_id, *extra), stdout=log, stderr=subprocess.STDOUT), log_path

    def output(self, log_path):
        with open(log_path) as f:
            return f.read()

    def load(self, study_id, storage=None):
        url = storage or "sqlite:///%s/%s.db" % (self.logdir, study_id)
        return optuna.load_study(study_name=study_id, storage=url)

    def logical(self, study):
        """{root: [attempts]} without skipped attempts."""
        out = {}
        for t in study.get_trials(deepcopy=False):
            if "skipped" not in t.user_attrs:
                out.setdefault(int(t.user_attrs.get("resume_of", t.number)), []).append(t)
        return out

    def wait_for_epoch(self, trial_dir, timeout=120):
        """Waits until a run of the trial has finished an epoch."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for path in glob.glob(os.path.join(trial_dir, "*", "metrics.jsonl")):
                with open(path) as f:
                    if '"kind":"epoch"' in f.read():
                        return
            time.sleep(0.2)
        self.fail("no epoch finished in %s within %d s" % (trial_dir, timeout))

    def assert_disjoint_workers(self, study, n_trials):
        by_root = self.logical(study)
        self.assertEqual(len(by_root), n_trials)
        workers = {}
        for root, attempts in by_root.items():
            self.assertEqual(len(attempts), 1, "trial %d ran %d times" % (root, len(attempts)))
            self.assertEqual(attempts[0].state, optuna.trial.TrialState.COMPLETE)
            workers.setdefault(attempts[0].user_attrs["worker"], []).append(root)
            self.assertTrue(os.path.isdir(os.path.join(self.logdir, study.study_name, "trial-%04d" % root)))
        self.assertEqual(len(workers), 2, "both workers should have run trials: %s" % workers)


class TestTune(TuneCase):
    def test_study_prunes_and_writes_the_best_config(self):
        # The first two trials are set so that the second (a learning rate too small to learn
        # in 3 epochs) is clearly worse at the first rung; the other two are Optuna's.
        url = "sqlite:///%s/s.db" % self.logdir
        os.makedirs(self.logdir)
        study = optuna.create_study(study_name="s", storage=url, direction="minimize")
        fixed = {"frame_sizes": "4 16", "batch_size": 2, "seq_len": 64, "dim": 32, "rnn_type": "gru",
                 "num_rnn_layers": 1, "q_type": "mu-law", "rnn_dropout": 0.0, "skip_conn": False}
        study.enqueue_trial(dict(fixed, learning_rate=0.01))
        study.enqueue_trial(dict(fixed, learning_rate=0.00001))
        r = self.tune("s", "--num_trials", "4", "--num_epochs", "3", "--pruner", "asha", "--reduction_factor", "2")
        by_root = self.logical(self.load("s"))
        self.assertEqual(len(by_root), 4)
        states = [a[-1].state for _, a in sorted(by_root.items())]
        self.assertEqual(states[0], optuna.trial.TrialState.COMPLETE)
        self.assertEqual(states[1], optuna.trial.TrialState.PRUNED, r.stdout)
        self.assertEqual(len(by_root[1][-1].intermediate_values), 1, "pruned after its first epoch")
        self.assertIn("trial 1 pruned at epoch 1", r.stdout)
        # The table lists every trial, and the best config is a config samplernn reads.
        for root in by_root:
            self.assertRegex(r.stdout, r"\n%d\*? +(complete|pruned)" % root)
        best = read_json(os.path.join(self.logdir, "s", "best.json"))
        done = [a[-1] for a in by_root.values() if a[-1].state == optuna.trial.TrialState.COMPLETE]
        self.assertAlmostEqual(best["val_loss"], min(t.value for t in done))
        config = read_json(best["config_file"])
        self.assertEqual(config["frame_sizes"], best["params"]["frame_sizes"])
        self.assertEqual(config["dim"], best["params"]["dim"])
        self.assertIn("--learning_rate %s" % best["params"]["learning_rate"], best["train_command"])
        check = subprocess.run([BIN, "train", "--data_dir", self.data, "--config_file", best["config_file"],
                                "--logdir_root", os.path.join(self.tmp, "best"), "--max_steps", "1",
                                "--generate", "False", "--batch_size", "2", "--val_frac", "0.2"],
                               capture_output=True, text=True, timeout=300)
        self.assertEqual(check.returncode, 0, check.stderr)
        # A rerun of a finished study trains nothing and prints the table again.
        again = self.tune("s", "--num_trials", "4", "--num_epochs", "3", "--pruner", "asha", "--reduction_factor", "2")
        self.assertNotIn("starts", again.stdout)
        self.assertIn("Best: trial %d" % best["trial"], again.stdout)

    def test_two_workers_share_a_sqlite_study(self):
        extra = ("--num_trials", "4", "--num_epochs", "2", "--pruner", "none")
        workers = [self.start("w", *extra) for _ in range(2)]
        for proc, log in workers:
            self.assertEqual(proc.wait(timeout=600), 0, self.output(log))
        self.assert_disjoint_workers(self.load("w"), 4)

    def test_two_workers_share_a_postgresql_study(self):
        url = self.start_postgresql()
        extra = ("--num_trials", "4", "--num_epochs", "2", "--pruner", "none", "--storage", url)
        workers = [self.start("pg", *extra) for _ in range(2)]
        for proc, log in workers:
            self.assertEqual(proc.wait(timeout=600), 0, self.output(log))
        self.assert_disjoint_workers(self.load("pg", url), 4)
        self.assertFalse(os.path.exists(os.path.join(self.logdir, "pg.db")), "no SQLite file with --storage")

    def test_interrupted_study_continues_its_trial_on_rerun(self):
        extra = ("--num_trials", "2", "--num_epochs", "4", "--pruner", "none")
        proc, log = self.start("i", *extra)
        trial_dir = os.path.join(self.logdir, "i", "trial-0000")
        self.wait_for_epoch(trial_dir)
        proc.send_signal(signal.SIGTERM)  # what Ctrl-C does to the whole terminal group
        self.assertEqual(proc.wait(timeout=120), 130, self.output(log))
        self.assertEqual(len(glob.glob(os.path.join(trial_dir, "*", "model.ckpt-*"))), 1, "a checkpoint was kept")
        r = self.tune("i", *extra)
        self.assertIn("trial 0 continues", r.stdout)
        by_root = self.logical(self.load("i"))
        self.assertEqual(len(by_root), 2)
        first = by_root[0]
        self.assertEqual([t.state for t in first], [optuna.trial.TrialState.FAIL, optuna.trial.TrialState.COMPLETE])
        self.assertEqual(sorted(first[-1].intermediate_values), [1, 2, 3, 4], "every epoch, once")
        self.assertEqual(len(glob.glob(os.path.join(trial_dir, "*", "metrics.jsonl"))), 2, "the same id, resumed")

    def test_a_dead_workers_trial_is_failed_and_continued(self):
        extra = ("--num_trials", "1", "--num_epochs", "4", "--pruner", "none", "--heartbeat", "1")
        proc, log = self.start("d", *extra)
        trial_dir = os.path.join(self.logdir, "d", "trial-0000")
        self.wait_for_epoch(trial_dir)
        proc.kill()
        proc.wait(timeout=60)
        # Its training stops with it (and keeps a checkpoint) instead of running on unwatched.
        deadline = time.monotonic() + 60
        while subprocess.run(["pgrep", "-f", "--", "--id trial-0000 --logdir_root %s/d " % self.logdir],
                             capture_output=True).returncode == 0:
            self.assertLess(time.monotonic(), deadline, "the orphaned train is still running")
            time.sleep(0.2)
        time.sleep(2.5)  # past the heartbeat's grace period of 2 s
        r = self.tune("d", *extra)
        self.assertIn("trial 0: queued again", r.stdout)
        self.assertIn("trial 0 continues", r.stdout)
        first = self.logical(self.load("d"))[0]
        self.assertEqual([t.state for t in first], [optuna.trial.TrialState.FAIL, optuna.trial.TrialState.COMPLETE])

    def test_bad_search_spaces_give_one_clear_error(self):
        def one_error(args, code, *needles):
            r = subprocess.run([BIN, "tune"] + args, capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, code, r.stdout + r.stderr)
            lines = r.stderr.strip().splitlines()
            self.assertEqual(len(lines), 1, r.stderr)
            self.assertTrue(lines[0].startswith("error: "), lines[0])
            for n in needles:
                self.assertIn(n, lines[0])
            return lines[0]

        base = ["--data_dir", self.data, "--logdir", self.logdir, "--batch_size", "2", "--seq_len", "64"]
        one_error(base + ["--frame_sizes", "16", "60"], 4, "frame_sizes [16 60]", "not a multiple of 16")
        one_error(base + ["--frame_sizes", "4", "16", "--frame_sizes", "32", "128"], 4,
                  "seq_len 64", "multiple of the top frame size 128")
        one_error(base + ["--frame_sizes", "4", "16", "--rnn_type", "gru", "rnn"], 4, "rnn_type", "gru or lstm")
        one_error(base + ["--frame_sizes", "4", "16", "--dim", "32", "32"], 4, "dim", "twice")
        space = os.path.join(self.tmp, "space.json")
        with open(space, "w") as f:
            json.dump({"frame_sizes": [[4, 16]], "dimm": [32]}, f)
        one_error(["--search_space", space, "--data_dir", self.data], 4, space, "'dimm' is not a search-space key")
        with open(space, "w") as f:
            f.write("{\"frame_sizes\": [[4, 16]],")
        one_error(["--search_space", space], 4, "not valid JSON")
        # A study continued with another space is refused, naming what differs.
        self.tune("f", "--num_trials", "1", "--num_epochs", "1")
        one_error(self.args("f", "--num_trials", "1", "--num_epochs", "2")[2:], 4, "num_epochs", "new --id")
        env = dict(os.environ, SRNN_PYTHON="/nonexistent/python3")
        r = subprocess.run([BIN, "tune"] + base + ["--frame_sizes", "4", "16"], capture_output=True, text=True,
                           env=env, timeout=60)
        self.assertEqual(r.returncode, 9, r.stderr)
        self.assertIn("needs Python 3 with Optuna", r.stderr)
        # A Python without Optuna (-S leaves out Debian's dist-packages).
        bare = os.path.join(self.tmp, "python-without-optuna")
        with open(bare, "w") as f:
            f.write("#!/bin/sh\nexec /usr/bin/python3 -S \"$@\"\n")
        os.chmod(bare, 0o755)
        env["SRNN_PYTHON"] = bare
        r = subprocess.run([BIN, "tune"] + base + ["--frame_sizes", "4", "16"], capture_output=True, text=True,
                           env=env, timeout=60)
        self.assertEqual(r.returncode, 9, r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn("needs Optuna", r.stderr)

    def test_the_json_space_is_the_command_line(self):
        space = os.path.join(self.tmp, "space.json")
        with open(space, "w") as f:
            json.dump({"frame_sizes": [[4, 16], [8, 32]], "batch_size": 2, "seq_len": [64], "dim": [16, 32],
                       "num_rnn_layers": [1], "rnn_type": ["gru"], "q_type": ["mu-law"], "rnn_dropout": [0],
                       "learning_rate": [0.01, 0.00001], "skip_conn": [False], "num_trials": 1, "num_epochs": 1},
                      f)
        r = subprocess.run([BIN, "tune", "--search_space", space, "--data_dir", self.data, "--logdir", self.logdir,
                            "--id", "j", "--val_frac", "0.2", "--rng_seed", "1", "--verbose", "1"],
                           capture_output=True, text=True, timeout=600)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # The same study joined from the command line: the same fingerprint, so it is accepted.
        self.tune("j", "--num_trials", "1", "--num_epochs", "1")

    def start_postgresql(self):
        """A PostgreSQL server of its own on a loopback port, in the test's folder."""
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        self.assertTrue(bins, "PostgreSQL is not installed (scripts/install-deps.sh installs it)")
        pg = os.path.dirname(bins[-1])
        root = os.path.join(self.tmp, "pg")
        os.makedirs(root)
        run_as = []
        if os.geteuid() == 0:  # the server refuses to run as root
            user = "postgres" if any(p.pw_name == "postgres" for p in pwd.getpwall()) else "nobody"
            shutil.chown(root, user)
            os.chmod(self.tmp, 0o755)
            run_as = ["runuser", "-u", user, "--"]
        port = free_port()
        subprocess.run(run_as + [pg + "/initdb", "-D", root + "/data", "-U", "tune", "--auth=trust", "-E", "UTF8"],
                       check=True, capture_output=True, timeout=120)
        subprocess.run(run_as + [pg + "/pg_ctl", "-D", root + "/data", "-l", root + "/log", "-w", "-o",
                                 "-p %d -k %s -c listen_addresses=127.0.0.1" % (port, root), "start"],
                       check=True, capture_output=True, timeout=120)
        self.addCleanup(subprocess.run, run_as + [pg + "/pg_ctl", "-D", root + "/data", "-m", "immediate", "stop"],
                        capture_output=True, timeout=120)
        subprocess.run([pg + "/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "tune", "tune"], check=True,
                       capture_output=True, timeout=60)
        return "postgresql://tune@127.0.0.1:%d/tune" % port


if __name__ == "__main__":
    unittest.main()
