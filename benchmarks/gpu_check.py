"""CUDA path check, for a machine with a GPU: trainer throughput on CUDA against a bare nn.LSTM loop,
a short run with ``--device cuda`` including the explain stage (LSTM SHAP with cuDNN disabled for the
explanation pass), and CPU/CUDA agreement of one model's predictions.

    python benchmarks/gpu_check.py
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from pipeline.cli import main
from pipeline.model import LSTMModel, ModelConfig
from pipeline.run import load_checkpoint
from pipeline.train import predict


def check() -> int:
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check")
        return 1
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}, cuDNN {torch.backends.cudnn.version()}")
    here = Path(__file__).parent
    for batch in ("128", "1024"):
        subprocess.run([sys.executable, str(here / "bench_trainer.py"), "--device", "cuda", "--batch-size", batch,
                        "--rounds", "3", "--n", "8000"], check=True)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        rc = main(["run", "--device", "cuda", "--target", "direction", "--folds", "2", "--epochs", "8",
                   "--no-progress", "--out", f"{tmp}/run"])
        wall = time.perf_counter() - t0
        if rc != 0:
            print(f"CUDA run failed with exit {rc}")
            return rc
        m = json.loads(Path(f"{tmp}/run/metrics.json").read_text())
        cfg = json.loads(Path(f"{tmp}/run/config.json").read_text())
        n_train = sum(m["n_train_per_fold"])
        print(f"CUDA run (2 folds, <= 8 epochs, explain incl. LSTM SHAP on {cfg['device']}): wall {wall:.1f} s, "
              f"training {m['train_seconds']:.1f} s, explain {m['explain_seconds']:.1f} s "
              f"({', '.join(f'{k} {v:.1f} s' for k, v in m['explain_timings'].items())}); {n_train} training windows per epoch over folds")
        for h in m["horizon_results"]:
            print("  " + h["verdict"])
        ck = load_checkpoint(f"{tmp}/run/model.pt")
        model = LSTMModel(ModelConfig(**ck["model_config"]))
        model.load_state_dict(ck["state_dict"])
        X = np.random.default_rng(0).normal(size=(512, 60, ck["model_config"]["n_features"])).astype(np.float32)
        cpu = predict(model, X, torch.device("cpu"))
        gpu = predict(model.to("cuda"), X, torch.device("cuda"))
        print(f"CPU vs CUDA predictions of the saved model: max |diff| {np.abs(cpu - gpu).max():.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(check())
