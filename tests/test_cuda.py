"""The CUDA path, exercised where a GPU is present (skipped on CPU-only machines such as CI)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explain.gradients import expected_gradients, integrated_gradients
from pipeline.models.lstm import LSTMModel, ModelConfig
from pipeline.models.trainer import TrainConfig, fit, predict, resolve_device, seed_everything

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
    # the eval-mode-safe path: cuDNN's RNN backward with the recurrent layers in training mode, dropout 0
    phi = expected_gradients(model, X[:50], X[200:210], dev, nsamples=32, seed=0)
    assert phi.shape == (10, 12, 4, 1) and np.isfinite(phi).all()
    ref = expected_gradients(model.cpu(), X[:50], X[200:210], torch.device("cpu"), nsamples=32, seed=0)
    np.testing.assert_allclose(phi, ref, atol=1e-4)
    ig = integrated_gradients(model, X[:50].mean(axis=0), X[200:210], dev)
    np.testing.assert_allclose(
        ig, integrated_gradients(model.cpu(), X[:50].mean(axis=0), X[200:210], torch.device("cpu")), atol=1e-4
    )
