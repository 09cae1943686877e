"""``python -m pipeline selftest``: the pipeline's own controls, end to end.

1. Planted signal: prices whose next-day direction follows a user column ``signal`` (two pure-noise
   columns beside it). The network (the LSTM, or ``--model``) must beat its comparator significantly (the run's verdict), every
   importance method but LightGBM's split counts must rank ``extra:signal`` first, and every method with
   a noise floor must put it above that floor.
2. Lagged planted signal (at day ``lag`` of the window, beyond the baselines' view) with a perfectly
   correlated copy of the signal column: the network must beat its comparator; the lag-block permutation must
   put the signal's largest loss increase in the block holding that day; expected and integrated
   gradients must pass the model-randomisation check; the signal and its copy must share a cluster.
3. Planted-lag search: ``search`` over the window (too short, or long enough to reach the signal's day) and
   the three user columns in or out must choose the signal's group and a window that reaches its lag.
4. Random walk: the network must show no significant skill, and the importance report must say so first.
Prints PASS / FAIL per check; exit code 1 on any failure.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pandas as pd

from pipeline.calibration.simulate import planted_signal_frame, random_walk_frame
from pipeline.progress import QUIET, say, verbosity

SIZES = {
    "small": dict(
        n=1300, window="10", hidden="16", epochs="20", folds="1", repeats="10", shap="120", lag="5", trials="6"
    ),
    "full": dict(
        n=2500, window="20", hidden="32", epochs="30", folds="2", repeats="10", shap="300", lag="8", trials="10"
    ),
}


def _lagged_explain_checks(folder: Path, lag: int, who: str = "LSTM") -> list[tuple[str, bool, str]]:
    """The temporal, sanity and cluster controls on the lagged planted run's importance tables."""
    from explain.temporal import lag_blocks

    out = []
    lags = pd.read_csv(folder / "importance_lags.csv")
    part = lags[lags.group == "extra:signal"]
    top = part.sort_values("value").iloc[-1] if len(part) else None
    window = int(json.loads((folder / "config.json").read_text())["config"]["window"])
    want = next(b.label for b in lag_blocks(window) if b.contains(lag))
    out.append(
        (
            f"lagged planted signal: lag-block permutation finds it in the block holding day {lag} ({want})",
            top is not None and top["block"] == want and top["value"] > 0,
            "top block: "
            + (
                "(missing)"
                if top is None
                else f"{top['block']}, loss increase {top['value']:.3g}, "
                f"{'clears' if top['clears_floor'] else 'does not clear'} the floor after Holm over all cells"
            ),
        )
    )
    checks = pd.read_csv(folder / "attribution_checks.csv").set_index("method")
    for method in ("lstm_shap", "integrated_gradients"):
        ok = method in checks.index and bool(checks.loc[method, "passed"])
        out.append(
            (
                f"{method}: passes the model-randomisation check",
                ok,
                f"signed rank correlation with a re-initialised {who} {checks.loc[method, 'signed_rho']:.2f}"
                if method in checks.index
                else "missing",
            )
        )
    clusters = pd.read_csv(folder / "importance_clusters.csv")
    together = (
        clusters["columns"]
        .fillna("")
        .str.split()
        .apply(lambda c: "extra_signal" in c and "extra_signal_copy" in c)
        .any()
    )
    out.append(
        (
            "perfectly correlated copies (signal, signal_copy) land in one cluster",
            bool(together),
            "; ".join(sorted(set(clusters["cluster"])))[:120],
        )
    )
    return out


def _search_checks(tmp: Path, s: dict, common: dict, model: str, who: str) -> list[tuple[str, bool, str]]:
    """The planted-lag search: a signal ``lag`` days back beside two noise columns; ``search`` over the window
    (one too short to see the signal, one long enough) and the three columns in or out must choose the signal's
    group and a window that reaches the lag."""
    from pipeline.cli.compose import run_search
    from pipeline.config.schema import ExplainConfig, RunConfig
    from pipeline.config.space import make_space
    from pipeline.errors import InputError

    lag = int(s["lag"])
    data = tmp / "search.csv"
    planted_signal_frame(s["n"], seed=7, lag=lag).to_csv(data, index=False)
    windows = [max(2, lag // 2), 2 * lag]
    space = make_space(
        {"window": {"choices": windows}, "groups": {"choices": ["extra:signal", "extra:noise_a", "extra:noise_b"]}}
    )
    cfg = RunConfig(**{**common, "data": str(data), "features": "extra", "bootstrap": 0, "progress": False}).validate()
    try:
        _, summary = run_search(
            cfg,
            ExplainConfig(ablation="none", explain=False),
            space,
            trials=int(s["trials"]),
            holdout=0.25,
            out=str(tmp / "search"),
            log=lambda *a, **k: None,
        )
    except InputError as exc:
        return [("planted-lag search finished", False, str(exc))]
    final = summary["final_config"]
    kept = "extra:signal" not in (final.get("exclude_groups") or [])
    return [
        ("planted-lag search finished", True, f"{summary['trials']} trials"),
        (
            f"planted-lag search: {who}'s search keeps extra:signal and a window that reaches day {lag} "
            f"(windows {windows[0]} or {windows[1]})",
            kept and final["window"] >= lag,
            f"chosen: window {final['window']}, groups left out: {', '.join(final.get('exclude_groups') or []) or 'none'}",
        ),
    ]


def selftest(
    size: str = "full", progress: bool = True, workdir: str | None = None, keep: str | None = None, model: str = "lstm"
) -> int:
    """Run the controls with network family ``model``; ``keep``: a folder (absent or empty) that keeps the runs,
    else a temporary one."""
    import contextlib

    from pipeline.cli.compose import run
    from pipeline.config.schema import RunConfig
    from pipeline.errors import InputError, JobError
    from pipeline.config.schema import MODEL_FAMILIES, ExplainConfig
    from pipeline.labels import model_label

    def attempt(cfg: dict, explain: dict) -> int:
        """One run of the composition ``run`` (prepare -> fit -> evaluate -> explain -> write): its exit code."""
        try:
            run(RunConfig(**cfg).validate(), ExplainConfig(**explain), log=lambda *a: None)
            return 0
        except InputError as exc:
            say(f"error: {exc}")
            return 2
        except JobError as exc:
            say(f"error: {exc}")
            return 1

    s = SIZES[size]
    who = model_label(model)
    checks: list[tuple[str, bool, str]] = []
    if keep is not None:
        kept = Path(keep)
        if kept.exists() and (not kept.is_dir() or any(kept.iterdir())):
            raise InputError(f"{kept}: --keep needs a new or empty folder")
        kept.mkdir(parents=True, exist_ok=True)
    folder = contextlib.nullcontext(str(kept)) if keep is not None else tempfile.TemporaryDirectory(dir=workdir)
    with folder as tmp:
        tmp = Path(tmp)
        common = dict(
            horizons=[1],
            window=int(s["window"]),
            epochs=int(s["epochs"]),
            patience=6,
            model=model,
            lr=5e-3,
            folds=int(s["folds"]),
            bootstrap=200,
            seeds=1,
            progress=progress and verbosity() != QUIET,
        )
        if "hidden" in MODEL_FAMILIES[model]:
            common["hidden"] = int(s["hidden"])
        explain = dict(n_repeats=int(s["repeats"]), shap_windows=int(s["shap"]))
        planted = tmp / "planted.csv"
        planted_signal_frame(s["n"]).to_csv(planted, index=False)
        rc = attempt(
            dict(data=str(planted), features="ohlcv+extra", out=str(tmp / "planted"), **common),
            dict(ablation="both", **explain),
        )
        checks.append(("planted run finished", rc == 0, f"exit {rc}"))
        if rc == 0:
            h = json.loads((tmp / "planted" / "metrics.json").read_text())["horizon_results"][0]
            free = {b: v for b, v in h["against_baselines"].items() if b in ("majority", "previous")}
            checks.append(
                (
                    f"planted: {who} beats the feature-free baselines significantly (Holm)",
                    all(v["p_holm"] < 0.05 and v["edge"] > 0 for v in free.values()),
                    "; ".join(
                        f"{b} edge {100 * v['edge']:+.1f} points, p_holm={v['p_holm']:.2g}" for b, v in free.items()
                    ),
                )
            )
            imp = pd.read_csv(tmp / "planted" / "importance.csv")
            for method in (
                "ablation_retrain",
                "conditional_permutation",
                "permutation",
                "lgbm_gain",
                "tree_shap",
                "lstm_shap",
                "integrated_gradients",
            ):
                part = imp[imp.method == method]
                top = part.sort_values("rank").iloc[0] if len(part) else None
                name = top["group"] if top is not None else "(missing)"
                # methods with a test must pass it; the others (gain) must lie above their shadow floor
                floor_ok = top is not None and (
                    bool(top["clears_floor"])
                    if pd.notna(top["clears_floor"])
                    else pd.isna(top["floor"]) or top["value"] > top["floor"]
                )
                checks.append(
                    (
                        f"planted: {method} ranks extra:signal first, above its noise floor",
                        name == "extra:signal" and floor_ok,
                        f"top group: {name}"
                        + (
                            ""
                            if top is None or pd.isna(top["floor"])
                            else f", value {top['value']:.3g} vs floor {top['floor']:.3g}"
                        ),
                    )
                )
        lagged = tmp / "lagged.csv"
        lag = int(s["lag"])
        planted_signal_frame(s["n"], lag=lag, copy=True).to_csv(lagged, index=False)
        rc = attempt(
            dict(data=str(lagged), features="ohlcv+extra", lgbm_lags=2, out=str(tmp / "lagged"), **common),
            dict(ablation="permute", lgbm_lags=2, **explain),
        )
        checks.append(("lagged planted run finished", rc == 0, f"exit {rc}"))
        if rc == 0:
            h = json.loads((tmp / "lagged" / "metrics.json").read_text())["horizon_results"][0]
            e = h["edge"]
            blind = h["against_baselines"]["majority"]
            ridge = h["baselines"].get("window_ridge", {}).get("accuracy", float("nan"))
            checks.append(
                (
                    f"lagged planted signal (t-{int(s['lag']) - 1}, beyond the logistic regression's and LightGBM's "
                    f"view): ridge on the whole window finds it, and the {who} learns it too (beats the majority "
                    f"class) or the verdict says that the window holds what the {who} did not learn",
                    bool(
                        (h.get("window_information") or {}).get("significant")
                        and (
                            h["skill"]
                            or (blind["p_holm"] < 0.05 and blind["edge"] > 0)
                            or "the window holds information" in h["verdict"]
                        )
                    ),
                    f"accuracy {h['model']['accuracy']:.3f} vs majority class {h['baselines']['majority']['accuracy']:.3f} "
                    f"(p_holm={blind['p_holm']:.2g}), window ridge {ridge:.3f}; against its comparator "
                    f"{h['comparator']}: edge {100 * e['mean']:+.1f} points, p={e['p_value']:.2g}",
                )
            )
            checks += _lagged_explain_checks(tmp / "lagged", lag, who)
        checks += _search_checks(tmp, s, common, model, who)
        walk = tmp / "walk.csv"
        random_walk_frame(s["n"]).to_csv(walk, index=False)
        rc = attempt(
            dict(data=str(walk), features="ohlcv", out=str(tmp / "walk"), **common),
            dict(ablation="permute", explain=False, **explain),
        )
        checks.append(("random-walk run finished", rc == 0, f"exit {rc}"))
        if rc == 0:
            m = json.loads((tmp / "walk" / "metrics.json").read_text())
            h = m["horizon_results"][0]
            checks.append(("random walk: no significant skill", not h["skill"], h["verdict"]))
            gate = (m.get("importance_findings") or [""])[0]
            checks.append(("random walk: the importance summary opens with 'no skill'", "no skill" in gate, gate[:90]))
    for name, ok, detail in checks:
        say(f"{'PASS' if ok else 'FAIL'}  {name}  ({detail})")
    if keep is None:
        say("(the runs above were written to a temporary folder, now deleted; --keep DIR keeps them)")
    else:
        print(f"runs and reports kept in {keep}")
    failed = sum(not ok for _, ok, _ in checks)
    print(f"selftest: {len(checks) - failed}/{len(checks)} checks passed")
    return 1 if failed else 0
