"""Long/flat strategy view: hold the asset on days the model predicts up (or a positive return), stay in
cash otherwise, pay ``cost_bps`` per unit of position change, against buy-and-hold on the same days.

Positions are decided at the close of t and earn the close-to-close return of t+1; several symbols are
held equally weighted. This is a view of the signal, not a trading system.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def long_flat(
    dates: np.ndarray, symbols: np.ndarray, signal: np.ndarray, next_return: np.ndarray, cost_bps: float = 5.0
) -> dict:
    """Daily equity curves and summary figures. ``next_return``: simple return from t to t+1."""
    frame = pd.DataFrame({"date": dates, "symbol": symbols, "pos": signal.astype(float), "ret": next_return})
    frame = frame.sort_values(["symbol", "date"])
    frame["turnover"] = frame.groupby("symbol")["pos"].diff().abs().fillna(frame["pos"].abs())
    frame["strat"] = frame["pos"] * frame["ret"] - frame["turnover"] * cost_bps / 1e4
    daily = frame.groupby("date")[["strat", "ret", "pos"]].mean()
    curves = pd.DataFrame({"strategy": (1 + daily["strat"]).cumprod(), "buy_and_hold": (1 + daily["ret"]).cumprod()})
    return {
        "curves": curves,
        "strategy": _summary(daily["strat"]),
        "buy_and_hold": _summary(daily["ret"]),
        "time_in_market": float(daily["pos"].mean()),
        "cost_bps": cost_bps,
    }


def _summary(returns: pd.Series) -> dict[str, float]:
    n = len(returns)
    equity = (1 + returns).cumprod()
    annual = float(equity.iloc[-1] ** (252 / n) - 1) if n else float("nan")
    sd = returns.std()
    sharpe = float(returns.mean() / sd * np.sqrt(252)) if sd > 0 else 0.0
    drawdown = float((equity / equity.cummax() - 1).min()) if n else float("nan")
    return {"annual_return": annual, "sharpe": sharpe, "max_drawdown": drawdown}
