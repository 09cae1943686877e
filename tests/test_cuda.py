"""The CUDA path, exercised where a GPU is present (skipped on CPU-only machines such as CI)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from explain.shap_lstm import expected_gradients
from pipeline.model import LSTMModel, ModelConfig
from pipeline.train import TrainConfig, fit, predict, resolve_device, seed_everything

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def test_auto_device_on_this_machine():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@cuda
def test_train_predict_and_shap_on_cuda():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 12, 4)).astype(np.float32)
    y = (X[:, -1, :1] > 0).astype(np.float32)
    seed_everything(0)
    model = LSTMModel(ModelConfig(4, 1, hidden=8))
    dev = resolve_device("cuda")
    fit(model, X[:200], y[:200], X[200:], y[200:], TrainConfig(epochs=2, batch_size=64, progress=False), dev)
    gpu = predict(model, X, dev)
    cpu = predict(model.cpu(), X, torch.device("cpu"))
    np.testing.assert_allclose(gpu, cpu, atol=1e-4)
    phi = expected_gradients(model, X[:50], X[200:210], dev, nsamples=32)  # cuDNN off for the backward in eval
    assert phi.shape == (10, 12, 4, 1) and np.isfinite(phi).all()
