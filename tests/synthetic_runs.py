"""A synthetic run's tables (known true accuracies, predictions drawn per seed) for report and claims tests."""
import json

import numpy as np
import pandas as pd


def _tables(n: int, acc: dict, seeds=(0, 1, 2), majority: float = 0.5, seed: int = 0):
    """A synthetic run: criterion -> {sparsity: true accuracy}; predictions drawn per seed."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    preds, res = [], []
    for crit, curve in acc.items():
        for sd in seeds:
            u = rng.random(n)
            for s, a in curve.items():
                p = np.where(u < a, y, 1 - y)
                preds.append({"criterion": crit, "seed": sd, "score_language": "en", "sparsity": s, "language": "en",
                              "y_true": json.dumps(y.tolist()), "y_pred": json.dumps(p.tolist()), "model": "m",
                              "task": "sst2", "train_language": "en", "run_id": "m-sst2-en"})
                res.append({"model": "m", "task": "sst2", "language": "en", "criterion": crit, "seed": sd, "sparsity": s,
                            "metric": "accuracy", "main": True, "value": float(np.mean(p == y)), "run_id": "m-sst2-en"})
    run = pd.DataFrame([{"model": "m", "task": "sst2", "run_id": "m-sst2-en", "eval_language": "en", "majority_accuracy": majority,
                         "n_train": 1000, "epochs": 1.0, "n_dev": n, "finetune_per_seed": False}])
    return {"predictions": pd.DataFrame(preds), "results": pd.DataFrame(res), "run": run, "masks": pd.DataFrame()}
