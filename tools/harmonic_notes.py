"""Writes a synthetic corpus of harmonic notes: the easy case a SampleRNN must learn before
music. Each chunk is 8 s of 16 kHz mono 16-bit WAV in which two voices play notes one after
another: every note has 5 harmonics (amplitude 1/h), an attack of 10 ms and an exponential
decay, and a pitch drawn from two octaves of a major scale.

    .venv/bin/python tools/harmonic_notes.py OUT_DIR [--chunks 40] [--seed 1]
"""
import argparse
import math
import os
import random
import struct
import wave

RATE = 16000
SCALE = [0, 2, 4, 5, 7, 9, 11]


def note_freqs(rng):
    degree = rng.randrange(2 * len(SCALE))
    semitone = 12 * (degree // len(SCALE)) + SCALE[degree % len(SCALE)]
    return 196.0 * 2 ** (semitone / 12)  # from G3


def voice(rng, n):
    x = [0.0] * n
    t = 0
    while t < n:
        dur = int(rng.uniform(0.4, 1.6) * RATE)
        f0, decay = note_freqs(rng), rng.uniform(1.0, 4.0)
        for i in range(min(dur, n - t)):
            s = i / RATE
            env = min(1.0, s / 0.01) * math.exp(-decay * s)
            x[t + i] += env * sum(math.sin(2 * math.pi * f0 * h * s) / h for h in range(1, 6))
        t += dur
    return x


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--chunks", type=int, default=40)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    rng = random.Random(a.seed)
    n = 8 * RATE
    for c in range(a.chunks):
        v1, v2 = voice(rng, n), voice(rng, n)
        with wave.open(os.path.join(a.out_dir, f"notes-{c:03d}.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(b"".join(struct.pack("<h", int(max(-1.0, min(1.0, 0.12 * (p + q))) * 32767))
                                   for p, q in zip(v1, v2)))
    print(f"wrote {a.chunks} chunks of 8 s to {a.out_dir}")


if __name__ == "__main__":
    main()
