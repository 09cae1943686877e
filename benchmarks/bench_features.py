"""Feature-build benchmark: ~500 tickers x 20 years (~2.5 M rows), resampled from the embedded sample.

Each synthetic ticker is a block bootstrap of real SP500/NASDAQ daily bars (returns, ranges and volume
kept together, 20-day blocks), so the indicators see realistic data. Prints rows per second for the
``all`` feature set (macro from the sample included). Target: under 10 s on a 2-core machine.

    python benchmarks/bench_features.py [--tickers 500] [--jobs 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from features import FeatureInput
from pipeline.data.load import load_sample_macro, load_sample_prices
from pipeline.data.dataset import build_feature_tables


def synthetic_universe(n_tickers: int, seed: int = 0) -> list[pd.DataFrame]:
    base = load_sample_prices(["SP500", "NASDAQ"])
    rng = np.random.default_rng(seed)
    index = base["SP500"].index
    n, block = len(index), 20
    out = []
    for i in range(n_tickers):
        src = base["SP500" if i % 2 == 0 else "NASDAQ"]
        rel = pd.DataFrame(
            {
                "r": np.log(src["close"]).diff().fillna(0.0).to_numpy(),
                "o": (src["open"] / src["close"]).to_numpy(),
                "h": (src["high"] / src["close"]).to_numpy(),
                "l": (src["low"] / src["close"]).to_numpy(),
                "v": src["volume"].replace(0, np.nan).ffill().bfill().to_numpy(),
            }
        )
        starts = rng.integers(0, n - block, size=n // block + 1)
        rows = np.concatenate([np.arange(s, s + block) for s in starts])[:n]
        r = rel.iloc[rows].reset_index(drop=True)
        close = 50 * np.exp(np.cumsum(r["r"].to_numpy()))
        frame = pd.DataFrame(
            {
                "open": close * r["o"].to_numpy(),
                "high": close * r["h"].to_numpy(),
                "low": close * r["l"].to_numpy(),
                "close": close,
                "volume": r["v"].to_numpy() * rng.uniform(0.01, 1),
            },
            index=index,
        )
        frame.attrs["symbol"] = f"T{i:03d}"
        out.append(frame)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=500)
    parser.add_argument("--features", default="all")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2, the machine's cores)")
    args = parser.parse_args()
    universe = synthetic_universe(args.tickers)
    macro = load_sample_macro(None)
    rows = sum(len(f) for f in universe)
    t0 = time.perf_counter()
    inputs = {f.attrs["symbol"]: FeatureInput(f, macro) for f in universe}
    tables = build_feature_tables(inputs, args.features, jobs=args.jobs)
    n_out = sum(len(t.frame) for t in tables.values())
    wall = time.perf_counter() - t0
    print(
        f"feature build ({args.jobs} process(es)): {args.tickers} tickers, {rows:,} input rows, {n_out:,} feature rows, set '{args.features}'"
    )
    print(f"wall {wall:.2f} s, {rows / wall:,.0f} rows/s (target: 2.5 M rows under 10 s)")


if __name__ == "__main__":
    main()
