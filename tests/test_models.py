"""The network families (issue 20): one input ``(N, T, F)``, heads per horizon, causal where they claim it,
trained by the one trainer on the same lazy windows, saved and reloaded, and their flags checked."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pipeline.cli.main import main
from pipeline.config.schema import FAMILY_NAMES, MODEL_FAMILIES, RunConfig
from pipeline.errors import InputError
from pipeline.models.families import FAMILIES, build
from pipeline.models.lstm import ModelConfig
from pipeline.models.trainer import predict
from pipeline.splits.windows import Windows

CAUSAL = {"lstm": {}, "gru": {}, "alstm": {}, "tcn": {}, "transformer": {"attention": "causal"}}


def _model(family: str, **cfg):
    torch.manual_seed(0)
    m = build(family, ModelConfig(n_features=4, n_outputs=3, hidden=8, layers=2, dropout=0.0, **cfg), 12)
    return m.eval()


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_maps_windows_to_one_output_per_horizon(family):
    x = torch.randn(5, 12, 4)
    out = _model(family)(x)
    assert out.shape == (5, 3) and torch.isfinite(out).all()


@pytest.mark.parametrize("family", list(CAUSAL))
def test_causal_families_never_let_a_step_see_a_later_one(family):
    """Perturb step t: the representation of steps before t does not move (where the family claims causality)."""
    m = _model(family, **CAUSAL[family])
    x = torch.randn(3, 12, 4)
    t = 7
    y = x.clone()
    y[:, t:] += torch.randn(3, 12 - t, 4)
    with torch.no_grad():
        a, b = m.encode(x), m.encode(y)
    assert torch.allclose(a[:, :t], b[:, :t], atol=1e-6)
    assert not torch.allclose(a[:, t:], b[:, t:], atol=1e-4)


def test_a_full_attention_transformer_is_not_causal():
    m = _model("transformer", attention="full")
    x = torch.randn(3, 12, 4)
    y = x.clone()
    y[:, -1] += 1.0
    with torch.no_grad():
        assert not torch.allclose(m.encode(x)[:, 0], m.encode(y)[:, 0], atol=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_reads_the_lazy_windows_as_the_arrays(family):
    """The gather: the trainer's predict on lazy :class:`Windows` (rows + window ends) equals the family on the
    materialised ``(N, T, F)`` array."""
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(40, 4)).astype(np.float32)
    ends = np.arange(11, 40)
    X = Windows(torch.as_tensor(rows), ends, 12)
    dense = np.stack([rows[e - 11 : e + 1] for e in ends])
    m = _model(family)
    with torch.no_grad():
        expected = m(torch.as_tensor(dense)).numpy()
    np.testing.assert_allclose(predict(m, X, torch.device("cpu")), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_reloads_from_its_state_dict(family, tmp_path):
    m = _model(family)
    torch.save({"model": family, "model_config": m.cfg.to_dict(), "state_dict": m.state_dict()}, tmp_path / "m.pt")
    ck = torch.load(tmp_path / "m.pt", weights_only=True)
    again = build(ck["model"], ModelConfig(**ck["model_config"]), 12).eval()
    again.load_state_dict(ck["state_dict"])
    x = torch.randn(4, 12, 4)
    with torch.no_grad():
        assert torch.equal(m(x), again(x))


@pytest.mark.parametrize(
    "family,flag,value",
    [
        ("linear", "hidden", 64),
        ("lstm", "heads", 2),
        ("mlp", "pool", "mean"),
        ("gru", "kernel_size", 5),
        ("tcn", "bidirectional", True),
        ("alstm", "attention", "full"),
    ],
)
def test_a_flag_the_family_does_not_use_is_refused(family, flag, value):
    assert flag not in MODEL_FAMILIES[family]
    with pytest.raises(InputError, match=f"--{flag.replace('_', '-')} does not apply to --model {family}"):
        RunConfig(model=family, **{flag: value}).validate()
    RunConfig(model=family).validate()  # the defaults are never refused


def test_refusal_on_the_command_line_is_one_line_and_exit_2(capsys):
    assert main(["run", "--model", "linear", "--hidden", "64", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--hidden does not apply to --model linear" in err[0]


def test_transformer_width_must_split_into_heads():
    with pytest.raises(InputError, match="multiple of --heads"):
        RunConfig(model="transformer", hidden=30, heads=4).validate()


def test_the_user_families_are_the_issue_list():
    assert set(FAMILY_NAMES) == {"lstm", "gru", "alstm", "transformer", "tcn", "mlp", "linear"}


@pytest.mark.parametrize("family", ["gru", "transformer", "linear"])
def test_run_and_explain_rerun_work_for_other_families(family, tmp_path):
    """``--model`` flows through every stage (explain included), the report names the family, and ``explain
    RUN_DIR`` reloads the saved family."""
    out = tmp_path / family
    args = [
        "run",
        "--model",
        family,
        "--start",
        "2012-01-01",
        "--end",
        "2014-12-31",
        "--window",
        "10",
        "--epochs",
        "1",
        "--folds",
        "1",
        "--bootstrap",
        "0",
        "--seeds",
        "1",
        "--horizons",
        "1,5",
        "--shap-windows",
        "20",
        "--lgbm-lags",
        "2",
        "--no-progress",
        "--out",
        str(out),
    ]
    if "hidden" in MODEL_FAMILIES[family]:
        args += ["--hidden", "8"]
    assert main(args) == 0
    m = json.loads((out / "metrics.json").read_text())
    name = m["horizon_results"][0]["model_name"]
    assert m["horizon_results"][0]["model_family"] == family and name in m["horizon_results"][0]["verdict"]
    assert f"does the {name} beat" in (out / "index.html").read_text()
    imp = (out / "importance.csv").read_text()
    assert "conditional_permutation" in imp and "lstm_shap" in imp and "integrated_gradients" in imp
    assert torch.load(out / "model.pt", weights_only=True)["model"] == family
    assert main(["explain", str(out), "--shap-windows", "20", "--no-progress"]) == 0


def test_the_tcn_covers_its_window_by_default_and_refuses_a_shorter_reach():
    """Bai et al.'s rule: the levels come from the window, so every step of it moves the output (at 1 level of
    kernel 3 the TCN saw 5 of 60 steps: perturbing steps 1-55 moved its output by exactly 0)."""
    from pipeline.config.schema import model_layers, tcn_levels, tcn_receptive_field

    cfg = RunConfig(model="tcn").validate()
    assert cfg.layers == 0 and model_layers(cfg) == tcn_levels(60, 3) == 4 and tcn_receptive_field(4, 3) >= 60
    assert model_layers(RunConfig(model="lstm").validate()) == 1
    torch.manual_seed(0)
    m = build(
        "tcn", ModelConfig(n_features=3, n_outputs=1, hidden=8, layers=model_layers(cfg), dropout=0.0, skip="none"), 60
    ).eval()  # the TCN's own reach (the linear skip path reads every step whatever the TCN's reach)
    assert m.receptive_field >= 60

    def reach(net) -> torch.Tensor:  # |d output / d input| per step of the window
        x = torch.randn(4, 60, 3, requires_grad=True)
        net(x).sum().backward()
        return x.grad.abs().sum(dim=(0, 2))

    assert (reach(m) > 0).all()  # every step, the oldest included
    torch.manual_seed(0)
    one = build("tcn", ModelConfig(n_features=3, n_outputs=1, hidden=8, layers=1, dropout=0.0, skip="none"), 60).eval()
    assert (reach(one)[:55] == 0).all()  # 1 level: steps 1-55 never matter
    with pytest.raises(InputError, match="the TCN sees 5 of the 60 window days; use --layers 4"):
        RunConfig(model="tcn", layers=1).validate()
    RunConfig(model="tcn", layers=1, partial_receptive_field=True).validate()  # the user said so
    RunConfig(model="tcn", layers=2, window=13).validate()  # 13 steps: covered


def test_a_search_trial_of_the_tcn_sees_its_window(tmp_path):
    from pipeline.calibration.simulate import random_walk_frame
    from pipeline.config.space import make_space
    from pipeline.config.schema import tcn_receptive_field
    from pipeline.stages.search import make_context, trial_config

    csv = tmp_path / "walk.csv"
    random_walk_frame(900, seed=1).to_csv(csv, index=False)
    base = RunConfig(source="csv", data=str(csv), horizons=[1], folds=2, progress=False).validate()
    ctx = make_context(base, make_space({"window": {"value": 30}}), 0.2)
    cfg = trial_config(ctx, {"window": 40, "model": "tcn", "layers": 1, "kernel_size": 3})
    assert tcn_receptive_field(cfg.layers, cfg.kernel_size) >= 40


def test_every_network_has_the_linear_skip_path_by_default_and_none_turns_it_off():
    from pipeline.config.schema import DEFAULTS
    from pipeline.models.families import LinearSkip, build
    from pipeline.models.lstm import ModelConfig

    assert DEFAULTS.skip == "linear"
    x = torch.randn(5, 12, 4)
    for family in FAMILIES:
        m = build(family, ModelConfig(n_features=4, n_outputs=2), 12).eval()
        assert isinstance(m, LinearSkip) == (family not in ("linear", "window_linear")), family
        if isinstance(m, LinearSkip):
            with torch.no_grad():  # one model: the network's output plus the linear path's, nothing else
                np.testing.assert_allclose(m(x).numpy(), (m.net(x) + m.linear(x)).numpy(), rtol=1e-5, atol=1e-6)
            if m.resumable:  # the lag-block shortcut: the network resumed, the linear path whole
                with torch.no_grad():
                    prefix = m.repeat_prefix(m.prefix(x[:, :7]), 2)
                    np.testing.assert_allclose(
                        m.resume(torch.cat([x[:, 7:]] * 2), prefix).numpy(),
                        torch.cat([m(x)] * 2).numpy(),
                        rtol=1e-5,
                        atol=1e-5,
                    )
        plain = build(family, ModelConfig(n_features=4, n_outputs=2, skip="none"), 12)
        assert not isinstance(plain, LinearSkip)
