"""Reads a samplernn run's TensorBoard event files with TensorBoard's own reader (the PyPI
`tensorboard` package, in the project's venv) and checks them against what the run logged
in its metrics.jsonl: the train/ and validation/ runs, every Keras tag and samplernn's own,
their steps and values, and each clip's audio against the WAV file on disk.

    .venv/bin/python tests/peers/check-tensorboard.py RUN_DIR CLIPS_DIR

Prints one line per run and exits 0, or prints the first differences and exits 1.
"""
import json
import sys
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

KERAS_EVERY = 50  # batch_loss and batch_accuracy are written every 50 steps


def load_run(path):
    acc = EventAccumulator(str(path), size_guidance={"scalars": 0, "audio": 0, "tensors": 0})
    acc.Reload()
    return acc


class Checker:
    def __init__(self):
        self.errors = []

    def close(self, what, got, want, rel=1e-6):
        if abs(got - want) > rel * max(1.0, abs(want)):
            self.errors.append(f"{what}: TensorBoard reads {got!r}, the run logged {want!r}")

    def scalars(self, acc, run, tag, want):
        """want: {step: value}; the tag must hold exactly these steps."""
        if tag not in acc.Tags()["scalars"]:
            self.errors.append(f"{run}/{tag} is missing; {run}/ has {sorted(acc.Tags()['scalars'])}")
            return
        got = {e.step: e.value for e in acc.Scalars(tag)}
        if sorted(got) != sorted(want):
            self.errors.append(f"{run}/{tag}: steps {sorted(got)[:8]}..., the run logged {sorted(want)[:8]}...")
            return
        for step, value in want.items():
            self.close(f"{run}/{tag} step {step}", got[step], value)


def main(argv):
    if len(argv) != 3:
        print("usage: check-tensorboard.py RUN_DIR CLIPS_DIR", file=sys.stderr)
        return 2
    run_dir, clips_dir = Path(argv[1]), Path(argv[2])
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    steps = [r for r in rows if r["kind"] == "step"]
    epochs = [r for r in rows if r["kind"] == "epoch"]
    if not steps or not epochs:
        print(f"{run_dir}/metrics.jsonl has {len(steps)} step rows and {len(epochs)} epoch rows; "
              "the check needs a run with a finished epoch", file=sys.stderr)
        return 2
    train, validation = load_run(run_dir / "train"), load_run(run_dir / "validation")
    c = Checker()

    # samplernn's own, every step.
    c.scalars(train, "train", "samplernn/step_loss", {r["step"]: r["loss"] for r in steps})
    c.scalars(train, "train", "samplernn/sec_per_step", {r["step"]: r["sec_per_step"] for r in steps})
    c.scalars(train, "train", "samplernn/learning_rate", {r["step"]: r["lr"] for r in steps})
    # Keras's batch tags: running means over the epoch so far, every 50 steps, accuracy as a fraction.
    batch_loss, batch_accuracy, sums = {}, {}, {}
    for r in steps:
        s = sums.setdefault(r["epoch"], [0.0, 0.0, 0])
        s[0] += r["loss"]
        s[1] += r["accuracy"]
        s[2] += 1
        if r["step"] % KERAS_EVERY == 0:
            batch_loss[r["step"]] = s[0] / s[2]
            batch_accuracy[r["step"]] = s[1] / s[2] / 100
    c.scalars(train, "train", "batch_loss", batch_loss)
    c.scalars(train, "train", "batch_accuracy", batch_accuracy)
    # Keras's epoch tags on the axis epoch - 1, in both runs.
    axis = {r["epoch"] - 1: r for r in epochs}
    c.scalars(train, "train", "epoch_loss", {e: r["loss"] for e, r in axis.items()})
    c.scalars(train, "train", "epoch_accuracy", {e: r["accuracy"] / 100 for e, r in axis.items()})
    c.scalars(train, "train", "samplernn/epoch_bits_per_sample", {e: r["bits_per_sample"] for e, r in axis.items()})
    c.scalars(validation, "validation", "epoch_loss", {e: r["val_loss"] for e, r in axis.items()})
    c.scalars(validation, "validation", "epoch_accuracy", {e: r["val_accuracy"] / 100 for e, r in axis.items()})
    c.scalars(validation, "validation", "samplernn/epoch_bits_per_sample",
              {e: r["val_bits_per_sample"] for e, r in axis.items()})
    if "batch_loss" in validation.Tags()["scalars"]:
        c.errors.append("validation/ has batch_loss, which Keras writes to train/ only")

    # The clips: each one's audio is the WAV file itself, at the step of the epoch that made it.
    clip_tags = train.Tags()["audio"]
    end_step = {r["epoch"]: r["step"] for r in epochs}
    for tag in clip_tags:
        name = tag.removeprefix("samplernn/clips/")
        wav = clips_dir / f"{name}.wav"
        events = train.Audio(tag)
        if not wav.exists():
            c.errors.append(f"train/{tag}: no clip {wav} on disk")
            continue
        if len(events) != 1 or events[0].encoded_audio_string != wav.read_bytes():
            c.errors.append(f"train/{tag}: {len(events)} events, and the audio differs from {wav}")
            continue
        a = events[0]
        rate, frames = int(a.sample_rate), int(a.length_frames)
        data_bytes = len(a.encoded_audio_string) - 44  # 16-bit mono PCM after a 44-byte header
        if a.content_type != "audio/wav" or data_bytes != 2 * frames:
            c.errors.append(f"train/{tag}: {a.content_type}, {frames} frames for {data_bytes} bytes of PCM")
        epoch = int(name.split("_e=")[1].split("_")[0])
        if a.step != end_step.get(epoch):
            c.errors.append(f"train/{tag}: step {a.step}, epoch {epoch} ended at step {end_step.get(epoch)}")
    if len(clip_tags) == 0:
        c.errors.append("train/ has no audio: the run's clips are missing")

    if c.errors:
        for e in c.errors[:20]:
            print(e)
        print(f"{len(c.errors)} differences")
        return 1
    print(f"train: {len(train.Tags()['scalars'])} scalar tags, {len(steps)} steps, {len(clip_tags)} clips; "
          f"validation: {len(validation.Tags()['scalars'])} scalar tags, {len(epochs)} epochs; all equal")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
