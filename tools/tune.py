#!/usr/bin/env python3
"""The Optuna driver of `samplernn tune`; run it through that command, which checks the flags
and the search space and passes the resolved plan here (--plan JSON).

One process is one worker. Every worker started with the same --id and --storage joins the
same Optuna study: trials are numbered by the storage, so no two workers run the same one.

Trials and their attempts. A trial whose worker is stopped (Ctrl-C, SIGTERM) or dies (seen
by the heartbeat of the RDB storage) is marked failed and queued again with the same
parameters and a user attribute `resume_of` = the first attempt's number (its root). The new
attempt trains under the same id, so `samplernn train` continues from the checkpoint. The
study's budget, --num_trials, counts roots, not attempts.
"""

import argparse
import fcntl
import importlib.util
import json
import math
import os
import signal
import socket
import sys
import time
import types
import warnings
import zlib

import tune_trial as tt

EXIT_INPUT, EXIT_CONFIG, EXIT_WRITE, EXIT_DEPENDENCY, EXIT_INTERRUPTED = 3, 4, 5, 9, 130

# Flags that change what a trial is; a worker whose flags differ from the study's is refused.
# num_trials may grow, and paths, threads and devices may differ between machines.
FINGERPRINT_KEYS = ("space", "base_config", "num_epochs", "type", "early_stopping_patience",
                    "val_frac", "optimizer", "max_steps", "max_minutes", "pruner",
                    "grace_period", "reduction_factor", "rng_seed", "sample_rate", "precision")


class TrialFailed(Exception):
    """A trial that ran and failed; the study goes on."""


class TuneError(Exception):
    def __init__(self, code, message, hint=""):
        super().__init__(message + (" (hint: %s)" % hint if hint else ""))
        self.code = code


def say(line):
    print(line, flush=True)


def import_optuna(storage_url):
    try:
        import optuna
    except ImportError:
        raise TuneError(EXIT_DEPENDENCY, "samplernn tune needs Optuna, which %s cannot import" % sys.executable,
                        "run scripts/install-deps.sh (Debian's python3-optuna), or set SRNN_PYTHON to a "
                        "Python that has it")
    if storage_url.startswith("postgresql"):
        if importlib.util.find_spec("psycopg2") is None:
            raise TuneError(EXIT_DEPENDENCY, "a postgresql:// storage needs psycopg2",
                            "run scripts/install-deps.sh (Debian's python3-psycopg2)")
    # Trials are reported by this driver; Optuna would add a traceback for every failed one.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    # The heartbeat that fails the trials of dead workers is marked experimental in Optuna 3.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


class Study:
    def __init__(self, optuna, plan, samplernn):
        self.optuna = optuna
        self.plan = plan
        self.samplernn = samplernn
        self.dir = os.path.join(plan["logdir"], plan["id"])
        self.worker = "%s:%d" % (socket.gethostname(), os.getpid())
        self.stop_code = None  # set when the worker must stop: (exit code, message)
        os.makedirs(self.dir, exist_ok=True)
        url = plan["storage"]
        for attempt in range(5):
            try:
                self.open_study(url)
                break
            except Exception as e:  # SQLAlchemy's errors carry the SQL and a link on later lines
                text = str(e)
                # Workers starting together race to create the tables and the study (SQLite
                # workers take turns through a lock file; a PostgreSQL server may still see it).
                racing = ("already exists", "locked", "UNIQUE constraint", "UniqueViolation", "duplicate key")
                if attempt < 4 and any(r in text for r in racing):
                    time.sleep(0.5 + attempt)
                    continue
                first = text.strip().splitlines()[0] if text.strip() else type(e).__name__
                raise TuneError(EXIT_INPUT, "cannot open the study storage %s: %s" % (safe_url(url), first),
                                "check the --storage URL, and that the server runs and accepts this user")
        self.check_fingerprint()
        seed = plan["rng_seed"]
        # One seed for all trials, so that they hold out the same validation files.
        plan["train_seed"] = seed if seed >= 0 else zlib.crc32(plan["id"].encode()) & 0x7FFFFFFF

    def open_study(self, url):
        if url.startswith("sqlite:///"):
            with open(url[len("sqlite:///"):] + ".lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                self.connect(url)
        else:
            self.connect(url)

    def connect(self, url):
        kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
        self.storage = self.optuna.storages.RDBStorage(
            url, engine_kwargs=kwargs, heartbeat_interval=int(math.ceil(self.plan["heartbeat"])),
            grace_period=int(math.ceil(2 * self.plan["heartbeat"])), failed_trial_callback=self.requeue)
        self.study = self.optuna.create_study(study_name=self.plan["id"], storage=self.storage,
                                              direction="minimize", load_if_exists=True,
                                              pruner=self.make_pruner())

    def make_pruner(self):
        p, o = self.plan["pruner"], self.optuna.pruners
        if p == "asha":
            return o.SuccessiveHalvingPruner(min_resource=self.plan["grace_period"],
                                             reduction_factor=self.plan["reduction_factor"])
        if p == "hyperband":
            return o.HyperbandPruner(min_resource=self.plan["grace_period"],
                                     max_resource=max(self.plan["num_epochs"], self.plan["grace_period"]),
                                     reduction_factor=self.plan["reduction_factor"])
        if p == "median":
            return o.MedianPruner(n_startup_trials=2, n_warmup_steps=self.plan["grace_period"] - 1)
        return o.NopPruner()

    def make_sampler(self, trial_number):
        """A sampler seeded for this trial: workers sharing --rng_seed still draw apart."""
        seed = zlib.crc32(("%d:%d" % (self.plan["train_seed"], trial_number)).encode())
        if self.plan["type"] == "random_search":
            return self.optuna.samplers.RandomSampler(seed=seed)
        startup = max(2, min(10, self.plan["num_trials"] // 4))
        return self.optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)

    def check_fingerprint(self):
        mine = {k: self.plan[k] for k in FINGERPRINT_KEYS}
        attrs = self.study.user_attrs
        if "samplernn" not in attrs:
            self.study.set_user_attr("samplernn", mine)
            return
        theirs = attrs["samplernn"]
        differ = [k for k in FINGERPRINT_KEYS if json.dumps(theirs.get(k), sort_keys=True) != json.dumps(mine[k], sort_keys=True)]
        if differ:
            k = differ[0]
            raise TuneError(EXIT_CONFIG, "study '%s' in %s was started with %s %s; this command gives %s" % (
                self.plan["id"], safe_url(self.plan["storage"]), k, json.dumps(theirs.get(k)), json.dumps(mine[k])),
                "give the study's flags to continue it, or a new --id for a new study")

    # --- trials ---------------------------------------------------------------------------

    def trials(self):
        return self.study.get_trials(deepcopy=False)

    def requeue(self, study, trial):
        """Queues a new attempt of a trial that did not finish through no fault of its own."""
        root = tt.root_of(trial)
        study.enqueue_trial(trial.params, user_attrs={"resume_of": root}, skip_if_exists=False)
        say("trial %d: queued again, to continue from its checkpoint" % root)

    def roots(self, trials):
        """The logical trials: roots of the attempts, skipped ones aside."""
        return {tt.root_of(t) for t in trials if not tt.is_skipped(t)}

    def has_work(self):
        """Whether a trial is queued, or the budget has room for a new one."""
        S = self.optuna.trial.TrialState
        trials = self.trials()
        if any(t.state == S.WAITING for t in trials):
            return True
        return len(self.roots(trials)) < self.plan["num_trials"] and len(self.tried(trials)) < self.n_combinations()

    def skip(self, trial, why):
        trial.set_user_attr("skipped", why)
        raise self.optuna.TrialPruned(why)

    def objective(self, trial):
        S = self.optuna.trial.TrialState
        root = tt.root_of(trial)
        earlier = [t for t in self.trials() if t.number < trial.number and not tt.is_skipped(t)]
        if root == trial.number and len(self.roots(earlier)) >= self.plan["num_trials"]:
            self.study.stop()
            self.skip(trial, "the study already has its --num_trials trials")
        if root != trial.number and any(tt.root_of(t) == root and t.state != S.FAIL for t in earlier):
            self.skip(trial, "another worker is already continuing trial %d" % root)
        trial.study.sampler = self.make_sampler(trial.number)
        params = self.suggest(trial)
        if root == trial.number:
            self.skip_repeat(trial, earlier)
        trial.set_user_attr("worker", self.worker)
        return self.run(trial, root, params)

    def tried(self, trials):
        """{parameters as JSON: root} of the trials that drew parameters."""
        out = {}
        for t in trials:
            if t.params and not tt.is_skipped(t):
                out.setdefault(json.dumps(t.params, sort_keys=True), tt.root_of(t))
        return out

    def n_combinations(self):
        n = 1
        for choices in self.plan["space"].values():
            n *= len(choices)
        return n

    def skip_repeat(self, trial, earlier):
        """Trials train with one seed, so the same parameters would give the same result: a
        repeat is skipped (Optuna sees it pruned, and draws elsewhere) and costs no budget."""
        tried = self.tried(earlier)
        same = tried.get(json.dumps(trial.params, sort_keys=True))
        if same is None:
            return
        if len(tried) >= self.n_combinations():
            self.study.stop()
            self.skip(trial, "all %d combinations of the search space have been tried" % self.n_combinations())
        self.skip(trial, "same parameters as trial %d" % same)

    def suggest(self, trial):
        for key, choices in self.plan["space"].items():
            trial.suggest_categorical(key, tt.optuna_choices(key, choices))
        return tt.params_from_optuna(trial.params)

    def run(self, trial, root, params):
        trial_dir = os.path.join(self.dir, tt.run_id(root))
        resume = root != trial.number
        if not resume and os.path.exists(trial_dir):
            # Left by a study of the same name that was deleted from the storage: kept aside.
            aside = "%s.old-%d" % (trial_dir, int(time.time()))
            os.rename(trial_dir, aside)
            say("warning: %s existed from an earlier study and was moved to %s" % (trial_dir, aside))
        os.makedirs(trial_dir, exist_ok=True)
        config_path = trial_dir + ".config.json"
        tt.write_json_atomic(config_path, tt.model_config(self.plan["base_config"], params))
        trial.set_user_attr("run", tt.run_id(root))
        cmd = tt.train_command(self.plan, self.samplernn, root, params, config_path, resume)
        if self.plan["verbose"] >= 1:
            say("trial %d %s on %s: %s" % (root, "continues" if resume else "starts", self.worker, describe(params)))
        metrics = tt.Metrics(trial_dir)
        metrics.poll()
        # Training minutes spent by earlier attempts count against --max_minutes.
        budget_s = self.plan["max_minutes"] * 60 - metrics.step_seconds if self.plan["max_minutes"] > 0 else None
        for epoch in sorted(metrics.val_loss):
            trial.report(metrics.val_loss[epoch], epoch)
        proc = tt.TrainProcess(cmd, os.path.join(trial_dir, "train.log"))
        try:
            while True:
                finished = not proc.running()
                self.report_epochs(trial, root, metrics, proc)
                if budget_s is not None and time.monotonic() - proc.started > budget_s:
                    proc.stop("reached --max_minutes %g" % self.plan["max_minutes"])
                if finished or proc.stopped_by_us:
                    break
                time.sleep(0.5)
            code = proc.wait()
        except KeyboardInterrupt:
            proc.stop("interrupted")
            proc.wait()
            self.requeue(self.study, attempt(trial, root))
            raise
        self.report_epochs(trial, root, metrics, proc)
        return self.finish(trial, root, proc, code, metrics)

    def report_epochs(self, trial, root, metrics, proc):
        """Gives Optuna the epochs finished since the last call; stops train if it prunes."""
        for epoch in metrics.poll():
            v = metrics.val_loss[epoch]
            trial.report(v, epoch)
            if self.plan["verbose"] >= 2:
                say("trial %d epoch %d: val_loss %.4f (%.3f bits/sample)" % (root, epoch, v, v / math.log(2)))
            if math.isfinite(v) and proc.running() and trial.should_prune():
                proc.stop("pruned at epoch %d" % epoch)

    def finish(self, trial, root, proc, code, metrics):
        best = metrics.best()
        if best is not None:
            trial.set_user_attr("best_epoch", best[1])
        trial.set_user_attr("epochs", len(metrics.val_loss))
        if proc.stopped_by_us and proc.stopped_by_us.startswith("pruned"):
            trial.set_user_attr("note", proc.stopped_by_us)
            if self.plan["verbose"] >= 1:
                say("trial %d %s" % (root, proc.stopped_by_us))
            raise self.optuna.TrialPruned(proc.stopped_by_us)
        if code not in (0, tt.EXIT_INTERRUPTED) or (code == tt.EXIT_INTERRUPTED and not proc.stopped_by_us):
            if code < 0:  # the out-of-memory killer, or someone's kill -9
                why = "killed by signal %d" % -code
            else:
                why = tt.last_error_line(proc.log_path) or "exit code %d" % code
            trial.set_user_attr("note", "train exit %d: %s" % (code, why))
            if self.plan["verbose"] >= 1:
                say("trial %d failed (train exit code %d): %s; log: %s" % (root, code, why, proc.log_path))
            if code in tt.NOT_THE_TRIALS_FAULT:
                self.stop_code = (code, "trial %d: %s: %s" % (root, tt.NOT_THE_TRIALS_FAULT[code], why))
                self.requeue(self.study, attempt(trial, root))
                self.study.stop()
            raise TrialFailed("train exit code %d" % code)
        if best is None:
            why = "no epoch finished" + (" within the budget (%s)" % proc.stopped_by_us if proc.stopped_by_us else "")
            trial.set_user_attr("note", why)
            if self.plan["verbose"] >= 1:
                say("trial %d failed: %s; raise the budget or shrink the epochs" % (root, why))
            raise TrialFailed(why)
        if proc.stopped_by_us:
            trial.set_user_attr("note", proc.stopped_by_us)
        if self.plan["verbose"] >= 1:
            say("trial %d complete: val_loss %.4f (%.3f bits/sample) at epoch %d of %d%s" % (
                root, best[0], best[0] / math.log(2), best[1], len(metrics.val_loss),
                " (%s)" % proc.stopped_by_us if proc.stopped_by_us else ""))
        return best[0]


def attempt(trial, root):
    """What requeue needs of a running trial: its parameters (as Optuna stores them) and root."""
    return types.SimpleNamespace(number=trial.number, params=dict(trial.params), user_attrs={"resume_of": root})


def describe(params):
    return ", ".join("%s %s" % (key, tt.flag_text(v)) for key, v in params.items())


def safe_url(url):
    """The storage URL without its password."""
    if "://" in url and "@" in url:
        scheme, rest = url.split("://", 1)
        cred, host = rest.rsplit("@", 1)
        return "%s://%s@%s" % (scheme, cred.split(":", 1)[0], host)
    return url


def run_worker(plan, samplernn):
    """Runs trials while the study has work, then reports. Returns the exit code."""
    import tune_report
    optuna = import_optuna(plan["storage"])
    study = Study(optuna, plan, samplernn)
    # Trials of a dead worker become failed (and queued again) before the budget is judged.
    optuna.storages.fail_stale_trials(study.study)
    interrupted = False
    if study.has_work():
        try:
            study.study.optimize(study.objective, catch=(TrialFailed,),
                                 callbacks=[lambda s, t: s.stop() if not study.has_work() else None])
        except KeyboardInterrupt:
            interrupted = True
    tune_report.report(study)
    if interrupted:
        raise TuneError(EXIT_INTERRUPTED, "interrupted; run the same command to continue the study")
    if study.stop_code is not None:
        raise TuneError(study.stop_code[0], study.stop_code[1],
                        "fix it and run the same command: the trial is queued again")
    if tune_report.best_trial(study) is None:
        raise TuneError(EXIT_CONFIG, "no trial completed in study '%s'" % plan["id"],
                        "see the trials' train.log files under %s" % study.dir)
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samplernn", required=True)
    parser.add_argument("--plan", required=True)
    args = parser.parse_args()
    try:
        return run_worker(json.loads(args.plan), args.samplernn)
    except TuneError as e:
        message, code = str(e), e.code
    except KeyboardInterrupt:
        message, code = "interrupted; run the same command to continue the study", EXIT_INTERRUPTED
    except OSError as e:  # the study folder: no permission, a full disk
        message, code = "cannot write '%s': %s (hint: check --logdir)" % (e.filename, e.strerror), EXIT_WRITE
    except Exception as e:  # a lost database connection, a full disk: one line, not a traceback
        if os.environ.get("SRNN_DEBUG") == "1":
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        message = "unexpected failure in the Optuna driver: %s: %s (hint: SRNN_DEBUG=1 prints the details)" % (
            type(e).__name__, first)
        code = 1
    print("error: %s" % message, file=sys.stderr, flush=True)
    return code


if __name__ == "__main__":
    # SIGTERM stops a worker as Ctrl-C does: the running trial checkpoints and is queued again.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.exit(main())
