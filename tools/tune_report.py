"""The end of a `samplernn tune` worker: the table of the study's trials, and the best one
written as a ready config (<study>/best.config.json) with its training flags (best.json)."""

import math
import os
import shlex

import tune_trial as tt


def logical_trials(study):
    """{root: [attempts, oldest first]} without the attempts that were skipped."""
    by_root = {}
    for t in sorted(study.trials(), key=lambda t: t.number):
        if not tt.is_skipped(t):
            by_root.setdefault(tt.root_of(t), []).append(t)
    return by_root


def best_trial(study):
    """(root, attempt) of the lowest val_loss among completed trials, or None."""
    last = {root: attempts[-1] for root, attempts in logical_trials(study).items()}
    done = [(t.value, root) for root, t in last.items() if t.state.name == "COMPLETE" and t.value is not None]
    if not done:
        return None
    root = min(done)[1]
    return root, last[root]


def state_text(attempts):
    last = attempts[-1]
    name = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running",
            "WAITING": "queued"}[last.state.name]
    if len(attempts) > 1:
        name += " (%d runs)" % len(attempts)
    return name


def report(study):
    plan = study.plan
    by_root = logical_trials(study)
    searched = [k for k, v in plan["space"].items() if len(v) > 1]
    best = best_trial(study)
    header = ["trial", "state", "epochs", "val_loss", "bits/sample"] + searched + ["note"]
    rows = []
    for root, attempts in sorted(by_root.items()):
        last = attempts[-1]
        # A queued attempt has drawn nothing yet: its parameters are its predecessor's.
        params = tt.params_from_optuna(next((a.params for a in reversed(attempts) if a.params), {}))
        values = [v for a in attempts for v in a.intermediate_values.values() if math.isfinite(v)]
        value = last.value if last.value is not None else (min(values) if values else None)
        mark = "*" if best is not None and best[0] == root else ""
        rows.append(["%d%s" % (root, mark), state_text(attempts),
                     str(max(a.user_attrs.get("epochs", len(a.intermediate_values)) for a in attempts)),
                     "%.4f" % value if value is not None else "-",
                     "%.3f" % (value / math.log(2)) if value is not None else "-"]
                    + [tt.flag_text(params[k]) if k in params else "-" for k in searched]
                    + [str(last.user_attrs.get("note", ""))])
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header] + rows]
    print("\nStudy '%s': %d of %d trials (%s)" % (plan["id"], len(rows), plan["num_trials"], study.dir))
    print("\n".join(lines), flush=True)
    tt.write_text_atomic(os.path.join(study.dir, "trials.tsv"),
                         "".join("\t".join(r) + "\n" for r in [header] + rows))
    if best is not None:
        write_best(study, *best)


def write_best(study, root, trial):
    plan = study.plan
    params = tt.params_from_optuna(trial.params)
    config_path = os.path.join(study.dir, "best.config.json")
    tt.write_json_atomic(config_path, tt.model_config(plan["base_config"], params))
    flags = ["--config_file", config_path, "--batch_size", str(params["batch_size"]),
             "--learning_rate", tt.flag_text(params["learning_rate"]), "--optimizer", plan["optimizer"]]
    if "momentum" in params:
        flags += ["--momentum", tt.flag_text(params["momentum"])]
    command = "samplernn train --id %s --data_dir %s %s" % (
        shlex.quote(plan["id"] + "-best"), shlex.quote(plan["data_dir"]), " ".join(shlex.quote(f) for f in flags))
    tt.write_json_atomic(os.path.join(study.dir, "best.json"), {
        "trial": root, "val_loss": trial.value, "val_bits_per_sample": trial.value / math.log(2),
        "epoch": trial.user_attrs.get("best_epoch"), "params": params, "config_file": config_path,
        "run": os.path.join(study.dir, tt.run_id(root)), "train_command": command})
    print("\nBest: trial %d, val_loss %.4f (%.3f bits/sample) at epoch %s" % (
        root, trial.value, trial.value / math.log(2), trial.user_attrs.get("best_epoch", "?")))
    print("Wrote %s; train it with:\n  %s" % (config_path, command), flush=True)
