"""One trial of `samplernn tune`: a `samplernn train` run, watched through its metrics.jsonl.

The trial's files live in the study folder:
    <study>/trial-0003.config.json   the trial's model config
    <study>/trial-0003/<run time>/   train's run folders (metrics.jsonl, checkpoints, TensorBoard)
    <study>/trial-0003/train.log     train's output
A trial resumed after Ctrl-C or a dead worker reuses its id, so train continues from its
checkpoint and the epochs it already finished are read back from the earlier run folders.
"""

import ctypes
import json
import math
import os
import signal
import subprocess
import time

MODEL_KEYS = ("frame_sizes", "seq_len", "dim", "rnn_type", "num_rnn_layers", "q_type",
              "rnn_dropout", "skip_conn")

# train's exit codes (docs/cli.md) that say nothing about the hyperparameters: the data, the
# disk or the program itself. They stop the worker; the trial is retried on the next run.
NOT_THE_TRIALS_FAULT = {1: "internal failure", 2: "bad train flags", 3: "unusable input", 5: "failed write",
                        7: "distributed failure", 9: "missing dependency"}
EXIT_INTERRUPTED = 130


def optuna_choices(key, choices):
    """Optuna's categorical choices are scalars: a frame-size list is stored as "16 64"."""
    return [" ".join(map(str, c)) for c in choices] if key == "frame_sizes" else list(choices)


def params_from_optuna(raw):
    params = dict(raw)
    if "frame_sizes" in params:
        params["frame_sizes"] = [int(v) for v in params["frame_sizes"].split()]
    return params


def flag_text(value):
    """A value as a samplernn flag takes it: True/False, lists space-separated."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, list):
        return " ".join(map(str, value))
    return repr(value) if isinstance(value, float) else str(value)


def root_of(trial):
    """The number of a trial's first attempt: attempts queued again carry it as `resume_of`."""
    return int(trial.user_attrs.get("resume_of", trial.number))


def is_skipped(trial):
    """An attempt that trained nothing (a repeat, or one past --num_trials)."""
    return "skipped" in trial.user_attrs


def run_id(root):
    return "trial-%04d" % root


def model_config(base, params):
    """The trial's *.config.json: the base config with the searched model keys."""
    config = dict(base)
    for key in MODEL_KEYS:
        if key in params:
            config[key] = params[key]
    return config


def write_text_atomic(path, text):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json_atomic(path, value):
    write_text_atomic(path, json.dumps(value, indent=2) + "\n")


def train_command(plan, samplernn, root, params, config_path, resume):
    """The `samplernn train` command line of a trial."""
    study_dir = os.path.join(plan["logdir"], plan["id"])
    cmd = [samplernn, "train",
           "--id", run_id(root),
           "--logdir_root", study_dir,
           "--data_dir", plan["data_dir"],
           "--config_file", config_path,
           "--batch_size", str(params["batch_size"]),
           "--learning_rate", repr(params["learning_rate"]),
           "--optimizer", plan["optimizer"],
           "--num_epochs", str(plan["num_epochs"]),
           "--early_stopping_patience", str(plan["early_stopping_patience"]),
           "--monitor", "val_loss",
           "--val_frac", repr(plan["val_frac"]),
           "--rng_seed", str(plan["train_seed"]),
           "--num_threads", str(plan["num_cpus"]),
           "--device", "cuda" if plan["num_gpus"] > 0 else "cpu",
           "--precision", plan["precision"],
           "--max_checkpoints", str(plan["max_checkpoints"]),
           "--generate", "True" if plan["generate"] else "False",
           "--output_file_dur", str(plan["output_file_dur"]),
           "--output_dir", os.path.join(study_dir, "generated"),
           "--resume", "True" if resume else "False",
           "--verbose", "True"]
    if "momentum" in params:
        cmd += ["--momentum", repr(params["momentum"])]
    if plan["max_steps"] > 0:
        cmd += ["--max_steps", str(plan["max_steps"])]
    if plan["sample_rate"] > 0:
        cmd += ["--sample_rate", str(plan["sample_rate"])]
    return cmd


class Metrics:
    """Reads the epoch rows of every metrics.jsonl under a trial folder as they are written."""

    def __init__(self, trial_dir):
        self.trial_dir = trial_dir
        self.offsets = {}
        self.val_loss = {}  # epoch -> val_loss
        self.step_seconds = 0.0

    def poll(self):
        """Reads new complete lines; returns the epochs that got a val_loss, in order."""
        new = []
        if not os.path.isdir(self.trial_dir):
            return new
        for run in sorted(os.listdir(self.trial_dir)):
            path = os.path.join(self.trial_dir, run, "metrics.jsonl")
            if not os.path.isfile(path):
                continue
            with open(path, "rb") as f:
                f.seek(self.offsets.get(path, 0))
                data = f.read()
            end = data.rfind(b"\n") + 1  # a line still being written waits for the next poll
            self.offsets[path] = self.offsets.get(path, 0) + end
            for line in data[:end].splitlines():
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if row.get("kind") == "step":
                    self.step_seconds += float(row.get("sec_per_step", 0.0))
                elif row.get("kind") == "epoch" and "val_loss" in row:
                    epoch = int(row["epoch"])
                    if epoch not in self.val_loss:
                        new.append(epoch)
                    self.val_loss[epoch] = float(row["val_loss"])
        return sorted(new)

    def best(self):
        """(val_loss, epoch) of the best epoch, or None."""
        finite = [(v, e) for e, v in self.val_loss.items() if math.isfinite(v)]
        return min(finite) if finite else None


def _die_with_parent():
    # The trial stops (with a checkpoint) when its worker dies, instead of training on
    # unwatched and holding its id.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def last_error_line(log_path):
    try:
        with open(log_path, "rb") as f:
            f.seek(max(0, os.path.getsize(log_path) - 65536))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        if line.startswith("error:"):
            return line[len("error:"):].strip()
    return lines[-1].strip() if lines else ""


class TrainProcess:
    """A running `samplernn train` with its output going to train.log."""

    def __init__(self, cmd, log_path):
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.log.write(("\n$ " + " ".join(cmd) + "\n").encode())
        self.log.flush()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        self.started = time.monotonic()
        self.stopped_by_us = None  # why we sent SIGTERM, if we did

    def running(self):
        return self.proc.poll() is None

    def stop(self, why):
        """SIGTERM: train finishes its step, writes a checkpoint and exits 130."""
        if self.stopped_by_us is None:
            self.stopped_by_us = why
        if self.running():
            self.proc.send_signal(signal.SIGTERM)

    def wait(self):
        """Waits for the exit, ignoring further Ctrl-C so that the checkpoint is written."""
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            code = self.proc.wait()
        finally:
            signal.signal(signal.SIGINT, previous)
            self.log.close()
        return code
