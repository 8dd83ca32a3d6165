"""PRiSM SampleRNN's speed in TensorFlow, timed as PRiSM runs it: the Keras model of
tools/prism_fixtures.py (PRiSM's layers, names and wiring) with its train_step under
tf.function (Adam, epsilon 1e-4, gradients clipped to norm 5), and generation as PRiSM's
generate.py does it, one big frame per call of a tf.function whose per-sample loop is
unrolled, the stateful RNNs carrying the state from call to call. The command line and the
JSON line it prints are those of the PyTorch reference (samplernn_reference.py), so that
bench/compare-train.sh and compare-generate.sh run it beside the others (TF_PYTHON=).

    .venv-tf/bin/python bench/tf_reference.py --config small --what train --batch_size 16 --threads 1
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import prism_fixtures as prism  # noqa: E402  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

CONFIGS = {  # the reference's benchmark configs
    "default": dict(seq_len=1024, frame_sizes=[16, 64], dim=1024, num_rnn_layers=4, q_levels=256),
    "small": dict(seq_len=1024, frame_sizes=[16, 64], dim=256, num_rnn_layers=2, q_levels=256),
}


def build(cfg, batch):
    model = prism.SampleRNN(batch_size=batch, frame_sizes=cfg["frame_sizes"], q_levels=cfg["q_levels"],
                            q_type="mu-law", dim=cfg["dim"], rnn_type="gru", num_rnn_layers=cfg["num_rnn_layers"],
                            seq_len=cfg["seq_len"], emb_size=cfg["q_levels"], skip_conn=False, rnn_dropout=0.0)
    big = model.big_frame_size
    model(np.zeros((batch, big + cfg["seq_len"], 1), dtype=np.int32))
    return model


def inference_step(model, temperature):
    """PRiSM's SampleRNN.inference_step: from the last big frame of samples (B, BF, 1), the
    next BF samples, sample by sample; the frame tier steps every F samples."""
    big, f, q = model.big_frame_size, model.frame_size, model.q_levels

    @tf.function
    def step(samples):
        big_out = model.big_frame_rnn(tf.cast(samples, tf.float32))
        frame_out = None
        for t in range(big, 2 * big):
            if t % f == 0:
                cond = big_out[:, (t // f) % (big // f), :][:, None, :]
                frame_out = model.frame_rnn(tf.cast(samples[:, t - f:t, :], tf.float32), conditioning_frames=cond)
            logits = model.sample_mlp(samples[:, t - f:t, :], conditioning_frames=frame_out[:, t % f, :][:, None, :])
            logits = tf.cast(tf.nn.log_softmax(tf.reshape(logits, [-1, q])), tf.float64) / temperature
            nxt = tf.cast(tf.random.categorical(logits, 1), tf.int32)
            samples = tf.concat([samples, tf.reshape(nxt, [-1, 1, 1])], axis=1)
        return samples[:, big:]

    return step


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", choices=sorted(CONFIGS), default="small")
    ap.add_argument("--what", choices=["train", "generate"], default="train")
    ap.add_argument("--batch_size", type=int, default=16)
    ap.add_argument("--steps", type=int, default=5, help="timed training steps (after one warm-up)")
    ap.add_argument("--num_seqs", type=int, default=1)
    ap.add_argument("--dur_samples", type=int, default=4096, help="samples generated per sequence")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--amp", choices=["none"], default="none")
    a = ap.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(a.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.set_visible_devices([], "GPU")
    tf.keras.utils.set_random_seed(0)
    cfg = CONFIGS[a.config]
    batch = a.batch_size if a.what == "train" else a.num_seqs
    model = build(cfg, batch)
    params = int(sum(np.prod(v.shape) for v in model.trainable_variables))
    base = dict(config=a.config, params=params, threads=a.threads, device="cpu", amp="none",
                framework=f"tensorflow {tf.__version__}")
    rng = np.random.default_rng(0)
    if a.what == "train":
        model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=1e-3, epsilon=1e-4),
                      loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        big, seq_len = model.big_frame_size, cfg["seq_len"]

        def step():
            x = rng.integers(0, cfg["q_levels"], (batch, big + seq_len, 1), dtype=np.int32)
            model.train_on_batch(x, x[:, big:])

        step()
        t0 = time.perf_counter()
        for _ in range(a.steps):
            step()
        dt = (time.perf_counter() - t0) / a.steps
        print(json.dumps(dict(base, what="train", batch_size=batch, seq_len=seq_len, sec_per_step=dt,
                              samples_per_sec=batch * seq_len / dt)))
    else:
        step = inference_step(model, tf.constant(1.0, tf.float64))
        big = model.big_frame_size
        samples = tf.fill([batch, big, 1], cfg["q_levels"] // 2)
        samples = step(samples)  # traces the graph
        n = max(1, a.dur_samples // big)
        t0 = time.perf_counter()
        for _ in range(n):
            samples = step(samples)
        _ = samples.numpy()
        dt = time.perf_counter() - t0
        print(json.dumps(dict(base, what="generate", num_seqs=batch, samples_per_sec=batch * n * big / dt)))


if __name__ == "__main__":
    main()
