#!/usr/bin/env python3
"""Runs samplernn against hostile input, as a careless or malicious user would, and checks
that it never crashes, hangs or loses data.

Cases: checkpoints with bytes flipped or cut at many offsets; audio files likewise; configs
with absurd values; absurd flags; pipes, folders and devices named as audio; kill -9 while
training writes checkpoints; a full disk (a file-size limit); two trainings of one id.

Every run must end within its timeout, with an exit code samplernn documents (0, 2-8, 130),
never by a signal; a failure must print exactly one `error:` line and never "unexpected
failure"; no temporary file may be left behind, and a good checkpoint must survive.

    scripts/hostile.py --bin build/cli/samplernn [--cases 3000] [--keep DIR]
"""
import argparse
import json
import math
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import wave

KNOWN_CODES = {0, 2, 3, 4, 5, 6, 7, 8, 130}


class Runner:
    def __init__(self, binary, work):
        self.binary, self.work = binary, work
        self.n, self.failures = 0, []

    def run(self, args, what, timeout=60, expect=None, env=None, stdin=None):
        self.n += 1
        started = time.time()
        try:
            r = subprocess.run([self.binary] + args, cwd=self.work, capture_output=True, text=True, errors="replace",
                               timeout=timeout, env=dict(os.environ, **(env or {})), stdin=stdin)
        except subprocess.TimeoutExpired:
            self.failures.append(f"HANG ({timeout} s): {what}: {' '.join(args)}")
            return None
        out = r.stdout + r.stderr
        errors = [l for l in out.splitlines() if l.startswith("error:")]
        problem = None
        if r.returncode < 0:
            problem = f"killed by signal {-r.returncode}"
        elif r.returncode not in KNOWN_CODES:
            problem = f"exit {r.returncode}"
        elif "unexpected failure" in out:
            problem = "an unexpected failure"
        elif r.returncode != 0 and len(errors) != 1:
            problem = f"{len(errors)} error lines"
        elif expect is not None and r.returncode not in expect:
            problem = f"exit {r.returncode}, expected {sorted(expect)}"
        if problem:
            self.failures.append(f"{problem}: {what}: {' '.join(args)}\n    {out.strip()[-600:]}")
        if time.time() - started > timeout / 2:
            self.failures.append(f"SLOW ({time.time() - started:.0f} s): {what}")
        return r


def write_wav(path, seconds, rate=16000, freq=220.0):
    n = int(seconds * rate)
    frames = b"".join(struct.pack("<h", int(9000 * math.sin(2 * math.pi * freq * i / rate) + random.randint(-300, 300)))
                      for i in range(n))
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)


def mutate(data, rng):
    """A copy of `data` with a few bytes changed, cut, or a run overwritten."""
    b = bytearray(data)
    kind = rng.randrange(4)
    at = rng.randrange(len(b))
    if kind == 0:
        b[at] ^= 1 << rng.randrange(8)
    elif kind == 1:
        b[at] = rng.choice([0, 0xFF, 0x7F, 0x80, ord("9"), ord("-"), ord(".")])
    elif kind == 2:
        del b[at:]
    else:
        for i in range(at, min(len(b), at + rng.randrange(1, 64))):
            b[i] = rng.randrange(256)
    return bytes(b)


def no_temporaries(root, runner, what):
    for folder, _, files in os.walk(root):
        for f in files:
            if ".tmp-" in f:
                runner.failures.append(f"TEMPORARY LEFT: {os.path.join(folder, f)} after {what}")
                os.remove(os.path.join(folder, f))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--cases", type=int, default=3000)
    ap.add_argument("--keep")
    args = ap.parse_args()
    rng = random.Random(1)
    random.seed(1)
    work = args.keep or tempfile.mkdtemp(prefix="srnn-hostile-")
    os.makedirs(work, exist_ok=True)
    r = Runner(os.path.abspath(args.bin), work)
    budget = args.cases

    # A tiny model and its data.
    os.makedirs(os.path.join(work, "data"), exist_ok=True)
    for i in range(8):
        write_wav(os.path.join(work, "data", f"c{i}.wav"), 0.5, freq=180 + 30 * i)
    with open(os.path.join(work, "tiny.json"), "w") as f:
        json.dump({"seq_len": 64, "frame_sizes": [4, 16], "dim": 8, "num_rnn_layers": 1, "emb_size": 4,
                   "q_type": "linear", "q_levels": 16}, f)
    base = ["train", "--data_dir", "data", "--config_file", "tiny.json", "--batch_size", "2", "--num_threads", "1",
            "--generate", "False", "--rng_seed", "1", "--verbose", "False"]
    r.run(base + ["--id", "good", "--num_epochs", "1"], "training the model", expect={0})
    good = max((os.path.join(d, f) for d, _, fs in os.walk(os.path.join(work, "logdir", "good")) for f in fs
                if f.startswith("model.ckpt-")), key=os.path.getmtime)
    good_bytes = open(good, "rb").read()

    # 1. Checkpoints, damaged.
    n_ckpt = budget * 4 // 10
    for i in range(n_ckpt):
        bad = os.path.join(work, "bad.ckpt")
        open(bad, "wb").write(mutate(good_bytes, rng))
        which = i % 4
        if which == 0:
            r.run(["generate", "--checkpoint_path", bad, "--output_path", "out/x.wav", "--dur", "0.02"], "damaged checkpoint")
        elif which == 1:
            r.run(["eval", "--checkpoint_path", bad, "data/c0.wav"], "damaged checkpoint")
        elif which == 2:
            r.run(["export", "--checkpoint_path", bad, "--output", "out/e.st"], "damaged checkpoint")
        else:
            r.run(base + ["--id", "from-bad", "--resume_from", bad, "--max_steps", "1", "--num_epochs", "2"],
                  "resuming a damaged checkpoint")

    # 2. Audio, damaged.
    clean = open(os.path.join(work, "data", "c0.wav"), "rb").read()
    for i in range(budget * 3 // 10):
        bad = os.path.join(work, "bad.wav")
        open(bad, "wb").write(mutate(clean, rng))
        cmd = [["stats", bad], ["plot", bad, "--output", "out/p.png"],
               ["chunk", "--input_file", bad, "--output_dir", "out/chunks", "--chunk_length", "100"],
               ["eval", "--checkpoint_path", good, bad]][i % 4]
        r.run(cmd, "damaged audio")

    # 3. Configs with absurd values.
    keys = {"seq_len": [0, -64, 64.5, 2 ** 31, 4294967360, "64", None, [64], 1e300],
            "frame_sizes": [[], [0], [16, 4], [4, 18], [2 ** 20], [4] * 40, "4", [4.5, 16], None],
            "dim": [0, -1, 1e9, 2 ** 32 + 8, 16384, "8", True],
            "num_rnn_layers": [0, 1000000, -3, 2.5],
            "q_levels": [1, 65536, 70000, -256], "q_type": ["mu", 7, "linear"],
            "rnn_type": ["transformer", 3], "emb_size": [-1, 70000, 1e12], "rnn_dropout": [-0.1, 1.0, "x", 1e308],
            "skip_conn": ["yes", 2], "learn_h0": [[]]}
    for i in range(budget // 10):
        cfg = {"seq_len": 64, "frame_sizes": [4, 16], "dim": 8, "num_rnn_layers": 1, "emb_size": 4,
               "q_type": "linear", "q_levels": 16}
        for _ in range(rng.randrange(1, 3)):
            k = rng.choice(list(keys))
            cfg[k] = rng.choice(keys[k])
        with open(os.path.join(work, "bad.json"), "w") as f:
            f.write(json.dumps(cfg) if i % 7 else json.dumps(cfg)[:rng.randrange(1, 40)])
        r.run(["train", "--data_dir", "data", "--config_file", "bad.json", "--batch_size", "2", "--id", f"cfg{i % 3}",
               "--resume", "False", "--max_steps", "1", "--generate", "False"], "absurd config", timeout=120)

    # 4. Absurd flags.
    flags = [["generate", "--checkpoint_path", good, "--output_path", "out/f.wav", "--dur", v] for v in
             ["0", "-1", "nan", "inf", "1e20", "1e6", "1e-9"]]
    flags += [["generate", "--checkpoint_path", good, "--output_path", "out/f.wav", "--dur", "0.02", "--temperature", v]
              for v in ["0", "-1", "nan", "inf", "1e-300", "1e300", "1e-6"]]
    flags += [["generate", "--checkpoint_path", good, "--output_path", "out/f.wav", "--dur", "0.02", f, v]
              for f, v in [("--num_seqs", "0"), ("--num_seqs", "100000"), ("--sample_rate", "1"),
                           ("--sample_rate", "22050"), ("--num_threads", "0"), ("--seed", "data"),
                           ("--seed", "/dev/zero"), ("--seed_dur", "-1"), ("--seed_offset", "99999999999"),
                           ("--weights", "int4"), ("--device", "cuda:99")]]
    flags += [["plot", "data/c0.wav", "--output", "out/p.png", f, v] for f, v in
              [("--fft_size", "3"), ("--fft_size", "65536"), ("--fft_size", "1048576"), ("--hop", "0"),
               ("--width", "100000"), ("--height", "-5"), ("--max_freq", "-1")]]
    flags += [base + ["--id", v, "--max_steps", "1"] for v in ["../../escape", "", ".", "a/b"]]
    flags += [base + ["--id", "flags", "--max_steps", "1", f, v] for f, v in
              [("--learning_rate", "nan"), ("--learning_rate", "-1"), ("--momentum", "2"),
               ("--output_file_dur", "99999999"), ("--max_generate_per_epoch", "1000000"), ("--batch_size", "0"),
               ("--batch_size", "1000000"), ("--val_frac", "1"), ("--num_epochs", "0"), ("--seed", "missing.wav"),
               ("--sample_rate", "1"), ("--dist_timeout", "0"), ("--nproc", "100000")]]
    flags += [["chunk", "--input_file", "data/c0.wav", "--output_dir", "out/c", f, v] for f, v in
              [("--chunk_length", "0"), ("--chunk_length", "-5"), ("--overlap", "99999"), ("--sample_rate", "1"),
               ("--silence_min_len", "-1"), ("--num_threads", "0"), ("--format", "mp5")]]
    for f in flags:
        r.run(f, "absurd flag")

    # 5. Things that are not audio files.
    os.mkfifo(os.path.join(work, "fifo.wav"))
    os.makedirs(os.path.join(work, "dir.wav"), exist_ok=True)
    open(os.path.join(work, "empty.wav"), "w").close()
    os.symlink("/dev/zero", os.path.join(work, "zero.wav"))
    for name in ["fifo.wav", "dir.wav", "empty.wav", "zero.wav"]:
        for cmd in [["stats", name], ["plot", name, "--output", "out/q.png"], ["eval", "--checkpoint_path", good, name],
                    ["chunk", "--input_file", name, "--output_dir", "out/d"]]:
            r.run(cmd, f"not an audio file: {name}", timeout=30)

    # 6. kill -9 while training writes checkpoints: the last good one always loads.
    cmd = [r.binary] + base + ["--id", "killed", "--num_epochs", "1000", "--checkpoint_every", "1"]
    for i in range(max(1, budget // 150)):
        p = subprocess.Popen(cmd, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.5, 2.5))
        p.send_signal(signal.SIGKILL)
        p.wait()
        r.run(["generate", "--checkpoint_path", "logdir/killed", "--output_path", "out/k.wav", "--dur", "0.02"],
              "the newest checkpoint after kill -9", expect={0, 3})
    r.run(base + ["--id", "killed", "--num_epochs", "1000", "--max_steps", "1"], "resuming after kill -9", expect={0})
    no_temporaries(os.path.join(work, "logdir", "killed"), r, "kill -9 and a resume")

    # 7. A full disk: the previous checkpoint stays as it was.
    before = open(good, "rb").read()
    for limit in [1, 8, 64, 200]:
        subprocess.run(f"ulimit -f {limit}; exec {r.binary} " + " ".join(base + ["--id", "good", "--num_epochs", "3"]),
                       shell=True, cwd=work, capture_output=True, timeout=120)
    if open(good, "rb").read() != before:
        r.failures.append("DATA LOSS: a full disk changed the good checkpoint")

    # 8. Two trainings of one id: the second is refused while the first runs.
    p = subprocess.Popen([r.binary] + base + ["--id", "twice", "--num_epochs", "1000"], cwd=work,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    r.run(base + ["--id", "twice", "--num_epochs", "1000"], "a second training of one id",
          expect={2})
    p.send_signal(signal.SIGINT)
    p.wait(timeout=60)
    no_temporaries(os.path.join(work, "out"), r, "everything")

    print(f"{r.n} runs, {len(r.failures)} problems")
    for f in r.failures:
        print("PROBLEM " + f)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if r.failures else 0


if __name__ == "__main__":
    sys.exit(main())
