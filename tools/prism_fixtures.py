"""Writes small TensorFlow checkpoints in the layout of PRiSM SampleRNN (rncm-prism/prism-samplernn:
TensorFlow 2, tf.keras 2), with the logits TensorFlow computes from them, to test the importer of
PRiSM checkpoints against TensorFlow's own files. The models are PRiSM's, rebuilt with its Keras
attribute names (which become the checkpoint keys) and its wiring; only the teacher-forced
training call is reproduced, not PRiSM's sampling loop. Each model gets OUT_DIR/<name>/ with:

  model.ckpt-3.index, model.ckpt-3.data-00000-of-00001, checkpoint   Model.save_weights()
  <name>.config.json     PRiSM's model config
  expected.safetensors   input (int32, B x T x 1), logits (float32, B x T_out x q), and per
                         trainable variable, keyed by its checkpoint key less
                         /.ATTRIBUTES/VARIABLE_VALUE: value/<key>, m/<key>, v/<key> (Adam's
                         slots), plus iterations (int64, shape (1,)); gru3-mulaw and
                         old-sample-tier are saved untrained, with no optimizer
  keys.txt               the checkpoint's keys, `key dtype shape` per line

    .venv-tf/bin/python tools/prism_fixtures.py OUT_DIR [--keys]   # or scripts/prism-fixtures.sh
"""
import argparse
import json
import os
import shutil

os.environ["TF_USE_LEGACY_KERAS"] = "1"  # tf.keras is tf_keras (Keras 2), as in PRiSM's days
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402
from safetensors.numpy import save  # noqa: E402

BATCH = 2
EPOCH = 3  # the checkpoint's name, model.ckpt-<epoch>, and the number of training steps
VALUE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"

MODELS = {
    "gru3": dict(seq_len=32, frame_sizes=[2, 8], dim=16, rnn_type="gru", num_rnn_layers=2,
                 q_type="linear", q_levels=32, skip_conn=False, seed=11, train=True),
    "lstm-skip": dict(seq_len=32, frame_sizes=[2, 8], dim=16, rnn_type="lstm", num_rnn_layers=2,
                      q_type="linear", q_levels=32, skip_conn=True, seed=12, train=True),
    "tier2": dict(seq_len=32, frame_sizes=[4], dim=16, rnn_type="gru", num_rnn_layers=1,
                  q_type="linear", q_levels=32, skip_conn=False, seed=13, train=True),
    "gru3-mulaw": dict(seq_len=32, frame_sizes=[2, 8], dim=16, rnn_type="gru", num_rnn_layers=2,
                       q_type="mu-law", q_levels=256, skip_conn=False, seed=14, train=False),
    # PRiSM before 2020-10-23: one hidden layer and ReLU'd logits, which the importer refuses.
    "old-sample-tier": dict(seq_len=32, frame_sizes=[2, 8], dim=16, rnn_type="gru", num_rnn_layers=1,
                            q_type="linear", q_levels=32, skip_conn=False, seed=15, train=False,
                            old_sample_tier=True),
}


class RNN(tf.keras.layers.Layer):
    """PRiSM's samplernn.nn.RNN: stateful GRU/LSTM layers `layer_<i>`, and with skip_conn a Dense
    `layer_<i>_skip_out` per layer whose outputs are summed. All layers are created before the
    skip projections, which fixes the order of the trainable variables (and of Adam's slots)."""

    def __init__(self, rnn_type, dim, num_layers, skip_conn, dropout=0.0):
        super().__init__()
        self.rnn_type = rnn_type.upper()
        self.dim = dim
        self.num_layers = num_layers
        self.skip_conn = skip_conn
        self.dropout = dropout

    def build(self, input_shape):
        self._layer_names = [f"layer_{i}" for i in range(self.num_layers)]
        cell_type = getattr(tf.keras.layers, self.rnn_type)
        for name in self._layer_names:
            setattr(self, name, cell_type(units=self.dim, return_sequences=True, stateful=True,
                                          dropout=self.dropout))
        if self.skip_conn:
            for i, name in enumerate(self._layer_names):
                setattr(self, name + "_skip_out",
                        tf.keras.layers.Dense(self.dim, kernel_initializer="he_uniform", use_bias=i == 0))
        super().build(input_shape)

    def reset_states(self):
        for name in self._layer_names:
            getattr(self, name).reset_states()

    def call(self, inputs):
        if not self.skip_conn:
            x = inputs
            for name in self._layer_names:
                x = getattr(self, name)(x)
            return x
        # The first layer reads the input twice over (PRiSM concatenates the input with itself).
        x = tf.concat([inputs, inputs], axis=2)
        out = tf.zeros(self.dim)
        for name in self._layer_names:
            x = getattr(self, name)(x)
            out += getattr(self, name + "_skip_out")(x)
        return out


class FrameRNN(tf.keras.layers.Layer):
    """PRiSM's frame tier: frames of levels, scaled, through the Dense `inputs`, plus the upper
    tier's conditioning, through the RNN, upsampled by a transposed convolution with the variable
    `upsample` (width = stride = num_lower_tier_frames; filter [width, out dim, in dim])."""

    def __init__(self, rnn_type, frame_size, num_lower_tier_frames, num_layers, dim, q_levels,
                 skip_conn, dropout):
        super().__init__()
        self.frame_size = frame_size
        self.num_lower_tier_frames = num_lower_tier_frames
        self.dim = dim
        self.q_levels = q_levels
        self.inputs = tf.keras.layers.Dense(dim)
        self.rnn = RNN(rnn_type, dim, num_layers, skip_conn, dropout=dropout or 0.0)

    def build(self, input_shape):
        self.upsample = tf.Variable(
            tf.initializers.GlorotNormal()(shape=[self.num_lower_tier_frames, self.dim, self.dim]),
            name="upsample")

    def reset_states(self):
        self.rnn.reset_states()

    def call(self, inputs, conditioning_frames=None):
        batch = tf.shape(inputs)[0]
        frames = tf.reshape(inputs, [batch, -1, self.frame_size])
        # Levels 0..q-1 to about [-2, 2): PRiSM's scaling, for mu-law as for linear.
        frames = (frames / (self.q_levels / 2.0) - 1.0) * 2.0
        x = self.inputs(frames)
        if conditioning_frames is not None:
            x += conditioning_frames
        x = self.rnn(x)
        steps = tf.shape(frames)[1]
        return tf.nn.conv1d_transpose(x, self.upsample, strides=self.num_lower_tier_frames,
                                      output_shape=[batch, steps * self.num_lower_tier_frames, self.dim])


class SampleMLP(tf.keras.layers.Layer):
    """PRiSM's sample tier. The embedding is q_levels wide whatever emb_size says, and the
    Conv1D `inputs` (no bias) reads frame_size embedded samples per output."""

    def __init__(self, frame_size, dim, q_levels, emb_size, old=False):
        super().__init__()
        self.q_levels = q_levels
        self.emb_size = emb_size
        self.old = old
        self.embedding = tf.keras.layers.Embedding(q_levels, q_levels)
        self.inputs = tf.keras.layers.Conv1D(filters=dim, kernel_size=frame_size, use_bias=False)
        self.hidden1 = tf.keras.layers.Dense(dim, activation="relu")
        if not old:
            self.hidden2 = tf.keras.layers.Dense(dim, activation="relu")
        self.outputs = tf.keras.layers.Dense(q_levels, activation="relu" if old else None)

    def call(self, inputs, conditioning_frames):
        batch = tf.shape(inputs)[0]
        x = self.embedding(tf.reshape(inputs, [-1]))
        x = self.inputs(tf.reshape(x, [batch, -1, self.q_levels]))
        x = self.hidden1(x + conditioning_frames)
        return self.outputs(x if self.old else self.hidden2(x))


class SampleRNN(tf.keras.Model):
    """PRiSM's SampleRNN with frame_sizes [frame, big frame] (3 tiers), or [frame] for the 2-tier
    analogue: the same classes and names without `big_frame_rnn`."""

    def __init__(self, batch_size, frame_sizes, q_levels, q_type, dim, rnn_type, num_rnn_layers,
                 seq_len, emb_size, skip_conn, rnn_dropout, old_sample_tier=False):
        super().__init__()
        self.batch_size = batch_size
        self.frame_size = frame_sizes[0]
        self.tiers = len(frame_sizes) + 1
        # The samples before the first target (PRiSM's overlap): the big frame, or the frame.
        self.big_frame_size = frame_sizes[-1]
        self.q_type = q_type
        self.q_levels = q_levels
        self.seq_len = seq_len
        tier = dict(rnn_type=rnn_type, num_layers=num_rnn_layers, dim=dim, q_levels=q_levels,
                    skip_conn=skip_conn, dropout=rnn_dropout)
        if self.tiers == 3:
            self.big_frame_rnn = FrameRNN(frame_size=self.big_frame_size,
                                          num_lower_tier_frames=self.big_frame_size // self.frame_size,
                                          **tier)
        self.frame_rnn = FrameRNN(frame_size=self.frame_size, num_lower_tier_frames=self.frame_size, **tier)
        self.sample_mlp = SampleMLP(self.frame_size, dim, q_levels, emb_size, old=old_sample_tier)

    def reset_rnn_states(self):
        if self.tiers == 3:
            self.big_frame_rnn.reset_states()
        self.frame_rnn.reset_states()

    def call(self, inputs, training=True):
        # inputs: (B, overlap + seq_len, 1) levels, overlap = big_frame_size (3 tiers) or
        # frame_size (2 tiers); the targets are inputs[:, overlap:].
        #   3 tiers: big frame tier inputs[:, :-BF], frame tier inputs[:, BF-F:-F] conditioned on
        #            it, sample tier inputs[:, BF-F:-1] conditioned on the frame tier (PRiSM's).
        #   2 tiers: the same with BF = F and no big frame tier: frame tier inputs[:, :-F],
        #            unconditioned, sample tier inputs[:, 0:-1].
        big, f = self.big_frame_size, self.frame_size
        levels = tf.cast(inputs, tf.float32)
        conditioning = None
        if self.tiers == 3:
            conditioning = self.big_frame_rnn(levels[:, :-big, :])
        frame_outputs = self.frame_rnn(levels[:, big - f:-f, :], conditioning_frames=conditioning)
        return self.sample_mlp(inputs[:, big - f:-1, :], conditioning_frames=frame_outputs)

    def train_step(self, data):
        # PRiSM's: cross-entropy from the logits, gradients clipped to a global norm of 5.
        x, y = data
        with tf.GradientTape() as tape:
            logits = tf.reshape(self(x, training=True), [-1, self.q_levels])
            target = tf.reshape(y, [-1])
            loss = self.compiled_loss(target, logits, regularization_losses=self.losses)
        grads = tape.gradient(loss, self.trainable_variables)
        grads, _ = tf.clip_by_global_norm(grads, 5.0)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return {"loss": loss}


def config_json(spec):
    return {"seq_len": spec["seq_len"], "frame_sizes": spec["frame_sizes"], "dim": spec["dim"],
            "rnn_type": spec["rnn_type"], "num_rnn_layers": spec["num_rnn_layers"],
            "q_type": spec["q_type"], "q_levels": spec["q_levels"], "emb_size": 256,
            "skip_conn": spec["skip_conn"], "rnn_dropout": 0}


def save_safetensors(tensors, path, metadata):
    """safetensors.numpy.save_file with the metadata in sorted order: safetensors writes it from
    a hash map, in an order that changes from run to run."""
    data = bytearray(save(tensors, metadata=metadata))
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    text = json.dumps(header, separators=(",", ":")).encode().ljust(n)
    assert len(text) == n
    data[8:8 + n] = text
    with open(path, "wb") as f:
        f.write(data)


def match_key(value, ckpt, shapes, taken):
    """The one checkpoint key holding exactly `value` (all values are random, so unique)."""
    hits = [k for k, shape in shapes.items() if k not in taken and shape == list(value.shape)
            and np.array_equal(ckpt.get_tensor(k), value)]
    if len(hits) != 1:
        raise SystemExit(f"error: {len(hits)} checkpoint keys hold a value of shape {value.shape}")
    taken.add(hits[0])
    return hits[0]


def write_model(name, spec, out_dir, verbose=False):
    folder = os.path.join(out_dir, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    tf.keras.utils.set_random_seed(spec["seed"])
    rng = np.random.default_rng(spec["seed"])
    model = SampleRNN(batch_size=BATCH, frame_sizes=spec["frame_sizes"], q_levels=spec["q_levels"],
                      q_type=spec["q_type"], dim=spec["dim"], rnn_type=spec["rnn_type"],
                      num_rnn_layers=spec["num_rnn_layers"], seq_len=spec["seq_len"], emb_size=256,
                      skip_conn=spec["skip_conn"], rnn_dropout=0.0,
                      old_sample_tier=spec.get("old_sample_tier", False))
    overlap, seq_len, q = model.big_frame_size, spec["seq_len"], spec["q_levels"]
    model(rng.integers(0, q, (BATCH, overlap + seq_len, 1), dtype=np.int32))
    for var in model.trainable_variables:
        value = rng.normal(0.0, 0.3, var.shape)
        value[np.abs(value) < 1e-3] = 1e-3
        var.assign(value.astype(np.float32))

    if spec["train"]:
        model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=1e-3, epsilon=1e-4),
                      loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        # Consecutive subsequences of one batch, the RNN state carried over as in PRiSM's epochs.
        audio = rng.integers(0, q, (BATCH, overlap + EPOCH * seq_len, 1), dtype=np.int32)
        model.reset_rnn_states()
        for i in range(overlap, overlap + EPOCH * seq_len, seq_len):
            model.train_on_batch(audio[:, i - overlap:i + seq_len], audio[:, i:i + seq_len])
    prefix = os.path.join(folder, f"model.ckpt-{EPOCH}")
    model.save_weights(prefix)

    model.reset_rnn_states()
    inputs = rng.integers(0, q, (BATCH, overlap + seq_len, 1), dtype=np.int32)
    logits = model(inputs, training=True).numpy()

    ckpt = tf.train.load_checkpoint(prefix)
    keys = [k for k, _ in tf.train.list_variables(prefix)]
    dtypes, shapes = ckpt.get_variable_to_dtype_map(), ckpt.get_variable_to_shape_map()
    tensors = {"input": inputs, "logits": logits.astype(np.float32)}
    role, taken, paths = {}, set(), []
    for var in model.trainable_variables:
        key = match_key(var.numpy(), ckpt, shapes, taken)
        paths.append(key[:-len(VALUE_SUFFIX)])
        role[key] = f"value/{paths[-1]}"
        if spec["train"]:  # values pair with moments; without them they only repeat the checkpoint
            tensors[f"value/{paths[-1]}"] = var.numpy()
    if spec["train"]:
        opt = model.optimizer
        # Adam's slots are listed in the order of model.trainable_variables.
        for slot, slots in (("m", opt._momentums), ("v", opt._velocities)):
            assert len(slots) == len(paths)
            for path, var in zip(paths, slots):
                tensors[f"{slot}/{path}"] = var.numpy()
                role[match_key(var.numpy(), ckpt, shapes, taken)] = f"{slot}/{path}"
        tensors["iterations"] = np.array([opt.iterations.numpy()], dtype=np.int64)
        for k in keys:
            if dtypes[k] == tf.int64 and k not in taken and ckpt.get_tensor(k) == opt.iterations.numpy():
                role[k] = "iterations"
    save_safetensors(tensors, os.path.join(folder, "expected.safetensors"),
                     {"tensorflow": tf.__version__, "tf_keras": tf_keras.__version__})
    with open(os.path.join(folder, f"{name}.config.json"), "w") as f:
        json.dump(config_json(spec), f, indent=2)
        f.write("\n")

    lines = [f"{k} {dtypes[k].name} [{','.join(map(str, shapes[k]))}]" for k in keys]
    with open(os.path.join(folder, "keys.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{name}: input {inputs.shape}, logits {logits.shape}, {len(keys)} keys")
    if verbose:
        for k, line in zip(keys, lines):
            print(f"  {line}" + (f"  = {role[k]}" if k in role else ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--keys", action="store_true", help="print every checkpoint key, with what it holds")
    a = ap.parse_args()
    tf.config.experimental.enable_op_determinism()
    for name, spec in MODELS.items():
        write_model(name, spec, a.out_dir, a.keys)


if __name__ == "__main__":
    main()
