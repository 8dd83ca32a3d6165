#!/usr/bin/env python3
"""Keeps the documentation true to the binary.

1. Every `samplernn` command line in the shell blocks (```sh, ```bash, ```shell) of README.md
   and docs/*.md is parsed by the real binary (SRNN_CHECK_FLAGS=1 makes it stop after
   parsing): an unknown flag, a missing required flag or a value of the wrong type fails the
   test, and so does a line that names samplernn in a way this script cannot extract.
2. Every block announced by a `<!-- docs-test: run -->` line is run, shell blocks with bash
   and ```python blocks with --python (the project's venv), in an empty scratch folder outside
   the repository holding only synthetic albums (albums/*.wav, six of 60 s each), so the
   blocks cannot lean on repository files. The guide's blocks (its walkthrough) run first,
   then the other files' in order, so that those can read what the walkthrough made.
   `samplernn` is on the PATH; `samplernn train` gets `--max_steps 3` appended so that it
   takes seconds.

    tests/docs/check-docs.py --bin build/cli/samplernn --root . --python .venv/bin/python
"""
import argparse
import array
import glob
import math
import os
import random
import re
import shlex
import subprocess
import sys
import tempfile
import wave

RUN_MARKER = "<!-- docs-test: run -->"
SHELL_FENCES = ("sh", "bash", "shell")
PYTHON_FENCE = "python"
# Words that may stand before `samplernn` in a documented command: they run it.
WRAPPERS = ("time", "nohup", "env", "exec", "do", "then")


def blocks_of(path):
    """(first line number, fence, text, run) of each shell or Python block of a markdown file."""
    blocks, lines = [], open(path, encoding="utf-8").read().split("\n")
    i, last_text = 0, ""
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            info = line[3:].strip().split(" ")[0]
            start, body = i + 1, []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            if info in SHELL_FENCES or info == PYTHON_FENCE:
                fence = "python" if info == PYTHON_FENCE else "sh"
                blocks.append((start + 1, fence, "\n".join(body), last_text.strip() == RUN_MARKER))
            last_text = ""
        elif line.strip():
            last_text = line
        i += 1
    return blocks


def is_samplernn(word):
    return os.path.basename(word) == "samplernn"


def samplernn_commands(text, unreadable=None):
    """The argument lists of the samplernn invocations in a shell block. Lines that name
    samplernn but yield no invocation are appended to `unreadable`."""
    out = []
    for cmd in text.replace("\\\n", " ").split("\n"):
        found = len(out)
        try:
            words = shlex.split(cmd, comments=True)
        except ValueError:
            words = None
        # Split at pipes and command separators; skip leading VAR=value assignments and the
        # wrappers that run a command (time, nohup, ...).
        segment = []
        for w in (words or []) + ["|"]:
            if w in ("|", "&&", ";", "||", "&"):
                while segment and "=" in segment[0] and not segment[0].startswith("-"):
                    segment.pop(0)
                if segment and not is_samplernn(segment[0]) and os.path.basename(segment[0]) in WRAPPERS:
                    at = next((i for i, x in enumerate(segment) if is_samplernn(x)), None)
                    segment = segment[at:] if at is not None else segment
                if segment and is_samplernn(segment[0]):
                    out.append(segment[1:])
                segment = []
            else:
                segment.append(w)
        code = cmd.split("#")[0]
        if unreadable is not None and len(out) == found and re.search(r"(^|[\s/(`])samplernn(\s|$)", code):
            unreadable.append(cmd.strip())
    return out


def write_album(path, seconds, f0, seed):
    """16 kHz mono 16-bit WAV: two detuned tones with a slow tremolo, and a little noise."""
    rate, rng = 16000, random.Random(seed)
    data = array.array("h")
    for t in range(seconds * rate):
        s = t / rate
        x = (0.25 * math.sin(2 * math.pi * f0 * s) + 0.15 * math.sin(2 * math.pi * f0 * 1.5 * s)) * (
            0.7 + 0.3 * math.sin(2 * math.pi * 0.5 * s)) + rng.uniform(-0.02, 0.02)
        data.append(int(x * 32767))
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data.tobytes())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--python", required=True, help="runs the ```python blocks")
    args = ap.parse_args()
    binary = os.path.abspath(args.bin)
    files = [os.path.join(args.root, "README.md")] + sorted(glob.glob(os.path.join(args.root, "docs", "*.md")))
    failures, n_checked, run_blocks = [], 0, []
    for f in files:
        for line, fence, text, run in blocks_of(f):
            if run:
                run_blocks.append((f, line, fence, text))
            if fence != "sh":
                continue
            unreadable = []
            for argv in samplernn_commands(text, unreadable):
                n_checked += 1
                r = subprocess.run([binary] + argv, env=dict(os.environ, SRNN_CHECK_FLAGS="1"),
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    failures.append(f"{f}:{line}: samplernn {' '.join(argv)}\n  {r.stdout}{r.stderr}".strip())
            for cmd in unreadable:
                failures.append(f"{f}:{line}: cannot extract the samplernn command from: {cmd}")
    print(f"parsed {n_checked} documented samplernn command lines")
    if n_checked < 30:
        failures.append(f"only {n_checked} command lines found: is the extraction broken?")

    with tempfile.TemporaryDirectory(prefix="srnn-docs-") as work:
        os.makedirs(os.path.join(work, "albums"))
        names = ["first", "second", "third", "fourth", "fifth", "sixth"]
        for i, name in enumerate(names):
            write_album(os.path.join(work, "albums", name + ".wav"), 60, 180.0 + 45.0 * i, i)
        bindir = os.path.join(work, ".bin")
        os.makedirs(bindir)
        wrapper = os.path.join(bindir, "samplernn")
        with open(wrapper, "w") as w:
            w.write(f'#!/bin/sh\nif [ "$1" = train ]; then exec {shlex.quote(binary)} "$@" --max_steps 3; fi\n'
                    f'exec {shlex.quote(binary)} "$@"\n')
        os.chmod(wrapper, 0o755)
        env = dict(os.environ, PATH=bindir + os.pathsep + os.environ["PATH"])
        run_blocks.sort(key=lambda b: os.path.basename(b[0]) != "guide.md")  # stable: file order otherwise
        for f, line, fence, text in run_blocks:
            argv = [os.path.abspath(args.python), "-c", text] if fence == "python" else ["bash", "-euo", "pipefail", "-c", text]
            r = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True)
            status = "ok" if r.returncode == 0 else f"FAILED (exit {r.returncode})"
            print(f"ran the block at {f}:{line}: {status}")
            if r.returncode != 0:
                failures.append(f"{f}:{line}: block failed with exit {r.returncode}\n{r.stdout[-3000:]}{r.stderr[-3000:]}")
        if not run_blocks:
            failures.append("no block is marked to run")

    for msg in failures:
        print("FAIL " + msg, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
