"""The one trainer: no dropped batches, determinism, divergence handling, checkpoints, model variants."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.models.lstm import LSTMModel, ModelConfig
from pipeline.models.trainer import TrainConfig, TrainingError, _batches, fit, predict, seed_everything


def _data(n=203, t=12, f=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, t, f)).astype(np.float32)
    y = (X[:, -1, :1] > 0).astype(np.float32)
    return X, y


def test_batches_never_drop_the_tail():
    seen = torch.cat(list(_batches(203, 64)))
    assert sorted(seen.tolist()) == list(range(203))


def test_predict_covers_every_sample():
    X, _ = _data(n=1029)
    model = LSTMModel(ModelConfig(4, 2, hidden=5))
    out = predict(model, X, torch.device("cpu"), batch_size=100)
    assert out.shape == (1029, 2)


@pytest.mark.parametrize(
    "kw",
    [
        dict(layers=2, dropout=0.2),
        dict(norm="layer", pool="mean"),
        dict(norm="batch", bidirectional=True),
        dict(bidirectional=True, pool="mean"),
    ],
)
def test_model_variants_train(kw):
    X, y = _data()
    model = LSTMModel(ModelConfig(4, 1, hidden=6, **kw))
    res = fit(
        model,
        X[:150],
        y[:150],
        X[150:],
        y[150:],
        TrainConfig(epochs=2, batch_size=32, progress=False),
        torch.device("cpu"),
    )
    assert len(res.train_loss) == 2 and res.best_epoch >= 1
    assert model(torch.as_tensor(X[:3])).shape == (3, 1)


def test_fixed_seed_is_deterministic_on_cpu():
    X, y = _data()
    outs = []
    for _ in range(2):
        seed_everything(7)
        model = LSTMModel(ModelConfig(4, 1, hidden=6))
        fit(
            model,
            X[:150],
            y[:150],
            X[150:],
            y[150:],
            TrainConfig(epochs=3, batch_size=32, seed=7, progress=False),
            torch.device("cpu"),
        )
        outs.append(predict(model, X, torch.device("cpu")))
    np.testing.assert_array_equal(outs[0], outs[1])


def test_early_stopping_restores_best_weights():
    X, y = _data()
    y_noise = np.random.default_rng(1).integers(0, 2, size=y.shape).astype(np.float32)
    model = LSTMModel(ModelConfig(4, 1, hidden=16))
    cfg = TrainConfig(epochs=40, batch_size=16, lr=1e-2, patience=3, progress=False, warmup_epochs=0)
    res = fit(model, X[:150], y_noise[:150], X[150:], y_noise[150:], cfg, torch.device("cpu"))
    assert len(res.val_loss) < 40  # stopped early
    from pipeline.models.trainer import evaluate_loss

    restored = evaluate_loss(model, torch.as_tensor(X[150:]), torch.as_tensor(y_noise[150:]), cfg)
    assert restored == pytest.approx(min(res.val_loss), rel=1e-5)


def test_nan_loss_stops_with_a_clear_message():
    X, y = _data()
    X[5, 3, 1] = np.nan
    model = LSTMModel(ModelConfig(4, 1, hidden=4))
    with pytest.raises(TrainingError, match="training diverged.*lower --lr"):
        fit(model, X, y, X, y, TrainConfig(epochs=1, batch_size=256, progress=False), torch.device("cpu"))


def test_linear_lr_scaling():
    assert TrainConfig(lr=1e-3, batch_size=512, lr_scaling="linear").effective_lr() == pytest.approx(2e-3)
    assert TrainConfig(lr=1e-3, batch_size=512).effective_lr() == pytest.approx(1e-3)


@pytest.mark.parametrize("scale", [1e-3, 1e3])
def test_clip_gradients_matches_torch(scale):
    """The trainer's clipping (which skips the multiply-by-one on the CPU) gives clip_grad_norm_'s gradients,
    below and above the threshold."""
    from pipeline.models.trainer import clip_gradients

    torch.manual_seed(0)
    a, b = torch.nn.Linear(5, 3), torch.nn.Linear(5, 3)
    b.load_state_dict(a.state_dict())
    x = torch.randn(8, 5)
    for m in (a, b):
        (scale * m(x).pow(2).sum()).backward()
    clip_gradients(list(a.parameters()), 1.0, torch.device("cpu"))
    torch.nn.utils.clip_grad_norm_(list(b.parameters()), 1.0)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p.grad, q.grad)
