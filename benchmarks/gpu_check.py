"""CUDA path check, for a machine with a GPU: trainer throughput on CUDA against a bare nn.LSTM loop,
a short run with ``--device cuda`` including the explain stage, CPU/CUDA agreement of one model's
predictions, the expected-gradients pass for 500 windows on CUDA (the default model shape: 60 days x 27
features, hidden 32, 3 outputs; 8 points per window, 100 background windows; cuDNN's RNN backward on the
eval-mode-safe path) against the same pass on the CPU and shap's GradientExplainer, and the panel shape: training
samples/s on 500 symbols x 20 years of feature rows (2.5 M x 19, window 60), windows gathered per batch
on the GPU from the rows held there (random rows: the GPU box need not have ``ta``).

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

from pipeline.cli.main import main
from pipeline.models.lstm import LSTMModel, ModelConfig
from pipeline.reporting.run_folder import load_checkpoint
from pipeline.models.trainer import predict


def check() -> int:
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check")
        return 1
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}, cuDNN {torch.backends.cudnn.version()}")
    here = Path(__file__).parent
    for batch in ("128", "1024"):
        subprocess.run(
            [
                sys.executable,
                str(here / "bench_trainer.py"),
                "--device",
                "cuda",
                "--batch-size",
                batch,
                "--rounds",
                "3",
                "--n",
                "8000",
            ],
            check=True,
        )
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        rc = main(
            [
                "run",
                "--device",
                "cuda",
                "--target",
                "direction",
                "--folds",
                "2",
                "--epochs",
                "8",
                "--no-progress",
                "--out",
                f"{tmp}/run",
            ]
        )
        wall = time.perf_counter() - t0
        if rc != 0:
            print(f"CUDA run failed with exit {rc}")
            return rc
        m = json.loads(Path(f"{tmp}/run/metrics.json").read_text())
        cfg = json.loads(Path(f"{tmp}/run/config.json").read_text())
        n_train = sum(m["n_train_per_fold"])
        print(
            f"CUDA run (2 folds, <= 8 epochs, explain incl. LSTM SHAP on {cfg['device']}): wall {wall:.1f} s, "
            f"training {m['train_seconds']:.1f} s, explain {m['explain_seconds']:.1f} s "
            f"({', '.join(f'{k} {v:.1f} s' for k, v in m['explain_timings'].items())}); {n_train} training windows per epoch over folds"
        )
        for h in m["horizon_results"]:
            print("  " + h["verdict"])
        ck = load_checkpoint(f"{tmp}/run/model.pt")
        model = LSTMModel(ModelConfig(**ck["model_config"]))
        model.load_state_dict(ck["state_dict"])
        X = np.random.default_rng(0).normal(size=(512, 60, ck["model_config"]["n_features"])).astype(np.float32)
        cpu = predict(model, X, torch.device("cpu"))
        gpu = predict(model.to("cuda"), X, torch.device("cuda"))
        print(f"CPU vs CUDA predictions of the saved model: max |diff| {np.abs(cpu - gpu).max():.2e}")
    gradient_pass()
    panel_throughput()
    return 0


def gradient_pass(n: int = 500, window: int = 60, n_features: int = 27) -> None:
    """Wall time of expected gradients (and integrated gradients) for ``n`` windows on CUDA, after one
    warm-up, with their CPU agreement; shap.GradientExplainer on 50 of the windows for comparison."""
    from explain.gradients import expected_gradients, integrated_gradients

    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    model = LSTMModel(ModelConfig(n_features=n_features, n_outputs=3))
    X = rng.normal(size=(n, window, n_features)).astype(np.float32)
    bg = rng.normal(size=(100, window, n_features)).astype(np.float32)
    cuda = torch.device("cuda")
    expected_gradients(model, bg, X[:50], cuda, 8, 0)  # warm-up (cuDNN plans, allocator)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    gpu = expected_gradients(model, bg, X, cuda, 8, 0)
    torch.cuda.synchronize()
    t_eg = time.perf_counter() - t0
    t0 = time.perf_counter()
    ig = integrated_gradients(model, bg.mean(axis=0), X, cuda, 16)
    torch.cuda.synchronize()
    t_ig = time.perf_counter() - t0
    t0 = time.perf_counter()
    cpu = expected_gradients(model, bg, X, torch.device("cpu"), 8, 0)
    t_cpu = time.perf_counter() - t0
    print(
        f"expected gradients, {n} windows x 8 points, 3 outputs: CUDA {t_eg:.2f} s (target <= 3 s), CPU {t_cpu:.2f} s; "
        f"max |CUDA - CPU| {np.abs(gpu - cpu).max():.2e} (max |phi| {np.abs(cpu).max():.2e}); "
        f"integrated gradients ({n} x 16 steps) CUDA {t_ig:.2f} s, finite {bool(np.isfinite(ig).all())}"
    )
    try:
        from explain.shap_lstm import reference_expected_gradients

        t0 = time.perf_counter()
        reference_expected_gradients(model, bg, X[:50], cuda, 8, 0)
        print(f"shap.GradientExplainer on 50 of the windows (CUDA, cuDNN off): {time.perf_counter() - t0:.2f} s")
    except ImportError:
        print("shap not installed here: GradientExplainer comparison skipped")


def panel_throughput(n_rows: int = 2_515_500, n_features: int = 19, window: int = 60, epochs: int = 1) -> None:
    """Trainer samples/s on the panel benchmark's shape, on CUDA, with lazy windows gathered on the device."""
    from pipeline.models.trainer import TrainConfig, fit
    from pipeline.splits.windows import Windows

    rng = np.random.default_rng(0)
    rows = rng.normal(size=(n_rows, n_features)).astype(np.float32)
    ends = np.arange(window - 1, n_rows)
    n_val = len(ends) // 10
    y = (rng.random((len(ends), 2)) > 0.5).astype(np.float32)
    train = Windows(rows, ends[:-n_val], window)
    val = Windows(rows, ends[-n_val:], window)
    for batch in (128, 1024):
        model = LSTMModel(ModelConfig(n_features=n_features, n_outputs=2))
        cfg = TrainConfig(epochs=epochs, batch_size=batch, classification=True, progress=False, patience=5)
        t0 = time.perf_counter()
        res = fit(model, train, y[:-n_val], val, y[-n_val:], cfg, torch.device("cuda"))
        torch.cuda.synchronize()
        wall = time.perf_counter() - t0
        print(
            f"panel on CUDA (batch {batch}): {len(train):,} training windows of {window} x {n_features}, "
            f"{res.samples_per_s:,.0f} samples/s in the batch loop; epoch incl. validation {wall:.1f} s; "
            f"GPU memory peak {torch.cuda.max_memory_allocated() / 1e9:.2f} GB"
        )


if __name__ == "__main__":
    raise SystemExit(check())
