"""Ablation by feature group, measured as the change of a per-sample loss on the test windows, so the
caller can judge it over test days (intervals, tests against a noise floor).

* :func:`permutation_importance`: on each fold's test windows, permute a set of columns over a stretch of
  lags (a group's *whole window*, a lag block of a group, a correlation cluster) across samples,
  ``n_repeats`` times, and record each sample's loss increase of the fold's prediction (the seed
  ensemble). Columns the model ignores score exactly 0: that is the floor. :func:`group_permutation`
  is the whole-window case per group.
* :func:`conditional_permutation`: the same, but only the part of a group that the *other* groups do not
  predict is permuted (Strobl et al. 2008; Molnar et al. 2023, "conditional feature importance"): on every step
  of the window the group's columns become ``own fitted part + other sample's residual``, the fitted part a
  near-least-squares map from the other groups' *whole window* (their past up to the step, the rest of the window
  after it, the row before the window, the window's mean: :func:`conditional_fit`) to the group's, fitted on the
  windows being permuted (their inputs only, never an outcome), so the joint distribution kept is theirs, across
  lags as well as within a day: a moving-average ratio keeps its relation to the returns of the days before it. Fitted on
  other rows (the training days), the map misses the test days' dependence by its estimation error, which for
  persistent features is large: in the calibration study that raised a 5% test to 6.2%. A group that only
  repeats what correlated groups already hold scores ~0, and permuting one of two correlated no-information
  groups no longer breaks their joint distribution (which makes plain permutation call it important: the model
  "relies on" it, but it carries no information).
* :func:`drop_group_retrain`: for each group, retrain every (fold, seed) unit without it and record each
  test sample's loss increase of the drop-group ensemble over the full ensemble. The noise floor is a
  reseeded full model: what retraining alone changes. The caller runs the jobs (local pool or Ray).

``loss(y, pred) -> (N,)`` is per sample (log loss for direction, squared error for regression).
"""

from __future__ import annotations

from typing import Callable, Hashable, Iterable

import numpy as np

Loss = Callable[[np.ndarray, np.ndarray], np.ndarray]


def permutation_importance(
    folds: Iterable[tuple[Callable[[np.ndarray], np.ndarray], np.ndarray, np.ndarray]],
    targets: dict[Hashable, tuple[np.ndarray, slice | None]],
    horizons: list[int],
    loss: Loss,
    n_repeats: int = 10,
    seed: int = 0,
    chunk: int = 8192,
    conditional: list[dict[Hashable, np.ndarray]] | None = None,
    centre: bool = False,
    days: list[np.ndarray] | None = None,
    reach: int = 0,
) -> dict[tuple[int, Hashable], list[np.ndarray]]:
    """``folds``: (predict(X) -> (N, H), X_test (N, T, F), y_test (N, H)) per fold, in test order.
    ``targets``: key -> (columns, time steps or ``None`` for the whole window); each is permuted across
    samples (one permutation of the samples per repeat: the block moves as a whole). Predictions run on
    chunks of ``chunk`` windows, all repeats of a key together. When a block leaves the first ``a`` steps
    unchanged and ``predict`` has ``split(X, a, repeats) -> tail_predict | None``, the model runs those
    steps once per chunk and only the remaining ones per repeat (exact for a one-directional LSTM).
    ``conditional``: per fold, key -> the windows of the part of the key's columns the other columns predict
    (indexable like ``X``: ``fitted[idx] -> (len(idx), T, len(columns))``): the key's columns of sample ``i`` are
    then ``fitted[i] + (other - fitted[perm[i]])``, its own predicted part and another sample's unpredicted part
    (see :func:`conditional_permutation`).
    ``centre``: record the part of each loss increase that depends on the outcome: the increase against ``y``
    minus the increase against the fold's mean outcome ``ȳ`` (per horizon), ``[L(y, p') - L(y, p)] -
    [L(ȳ, p') - L(ȳ, p)]``. For log loss and squared error this is ``(y - ȳ) · (g(p) - g(p'))`` (``g`` the logit
    or ``2p``): zero on average whenever the outcome does not depend on the inputs, however far the permuted
    windows move the predictions (see :func:`conditional_permutation`).
    ``days``: per fold, each sample's day (an integer position on the calendar, ``(N_fold,)``), with ``reach``
    (the window length - 1 + the longest horizon): no sample takes its block from a sample whose window holds a
    day of its own target span (:func:`partners`). Without them (``None``), any permutation.
    Returns ``(horizon, key) -> [per-sample mean loss increase (N_fold,) per fold]``."""
    rng = np.random.default_rng(seed)
    out: dict[tuple[int, Hashable], list[np.ndarray]] = {}
    H = len(horizons)
    for fold_no, (predict, X, y) in enumerate(folds):
        coef = conditional[fold_no] if conditional is not None else {}
        n, T = len(X), X.shape[1]
        base = predict(X)
        if centre:  # the loss against the fold's mean outcome: what a change of predictions costs by itself
            y_bar = np.nanmean(np.asarray(y, dtype=np.float64), axis=0)

            def cost(rows, pred_rows) -> np.ndarray:
                return np.column_stack(
                    [
                        loss(y[rows, j], pred_rows[:, j]) - loss(np.full(len(pred_rows), y_bar[j]), pred_rows[:, j])
                        for j in range(H)
                    ]
                )
        else:

            def cost(rows, pred_rows) -> np.ndarray:
                return np.column_stack([loss(y[rows, j], pred_rows[:, j]) for j in range(H)])

        base_loss = cost(slice(None), base)
        day = days[fold_no] if days is not None else None
        perms = {key: [partners(rng, n, day, reach) for _ in range(n_repeats)] for key in targets}
        inc = {key: np.zeros_like(base_loss) for key in targets}
        lazy = {k for k, (_, steps) in targets.items() if steps is None and hasattr(X, "permuted") and k not in coef}
        for key in lazy:  # lazy windows: the group reads other samples' windows, no copy
            for perm in perms[key]:
                pred = predict(X.permuted(targets[key][0], perm))
                inc[key] += cost(slice(None), pred) - base_loss
        by_start: dict[int, list[Hashable]] = {}
        for key, (_, steps) in targets.items():
            if key not in lazy:
                by_start.setdefault(range(T)[steps or slice(None)].start, []).append(key)
        per = max(1, chunk // n_repeats)
        # a key's own columns of other samples' windows, gathered alone (lazy windows gather only those columns)
        # (one view per column set: a group's lag blocks share it, and a lazy view copies its columns once)
        by_cols = {tuple(np.asarray(cols).tolist()) for key, (cols, _) in targets.items() if key not in lazy}
        shared = {c: X.select_columns(np.array(c)) if hasattr(X, "select_columns") else None for c in by_cols}
        views = {key: shared[tuple(np.asarray(cols).tolist())] for key, (cols, _) in targets.items() if key not in lazy}
        for i0 in range(0, n if by_start else 0, per):
            idx = np.arange(i0, min(n, i0 + per))
            own = np.asarray(X[idx], dtype=np.float32)
            for a, keys in by_start.items():
                tail = predict.split(own, a, n_repeats) if a > 0 and hasattr(predict, "split") else None
                for key in keys:
                    cols, steps = targets[key]
                    steps = steps or slice(None)
                    batch = np.concatenate([own] * n_repeats)
                    own_fit = np.asarray(coef[key][idx], np.float32)[:, steps] if key in coef else None
                    for r, perm in enumerate(perms[key]):
                        view = views[key]
                        other = np.asarray(view[perm[idx]] if view is not None else X[perm[idx]][..., cols], np.float32)
                        swapped = other[:, steps]
                        if key in coef:  # keep what the other columns predict of the group: own part, other residual
                            swapped = swapped - np.asarray(coef[key][perm[idx]], np.float32)[:, steps] + own_fit
                        batch[r * len(idx) : (r + 1) * len(idx), steps, cols] = swapped
                    pred = (tail(batch[:, a:]) if tail is not None else predict(batch)).reshape(n_repeats, len(idx), -1)
                    for r in range(n_repeats):
                        inc[key][idx] += cost(idx, pred[r]) - base_loss[idx]
        for key in targets:
            for j, h in enumerate(horizons):
                out.setdefault((h, key), []).append(inc[key][:, j] / n_repeats)
    return out


def partners(rng: np.random.Generator, n: int, day: np.ndarray | None = None, reach: int = 0) -> np.ndarray:
    """A random permutation of ``n`` test samples in which no sample ``i`` is given the window of a sample whose
    day lies ``1..reach`` days after its own (``day`` ``(n,)`` integer positions on the calendar).

    On time series the test windows overlap: sample ``j``'s window holds the days before ``day[j]``, so when
    ``day[j]`` falls in ``(day[i], day[i] + reach]`` it holds the returns that make ``i``'s target. A block taken
    from it carries that target into ``i``'s input (for a conditional permutation, with the sign reversed: the
    other sample's fitted part is subtracted), and a model that reads returns at all then gains or loses on
    ``i``'s own outcome: a loss change that is not the group's information. At window 60 and h = 10 that is about
    one partner in ten. Such pairs are swapped away (with a random
    other sample whose new partner is allowed as well), so the result stays a permutation; where the test days
    are too few for that, the remaining pairs keep their partner."""
    perm = rng.permutation(n)
    if day is None or reach <= 0 or n < 2:
        return perm
    day = np.asarray(day, np.int64)

    def bad(i: np.ndarray, j: np.ndarray) -> np.ndarray:  # sample i given the window of sample j
        d = day[j] - day[i]
        return (d >= 1) & (d <= reach)

    for i in np.flatnonzero(bad(np.arange(n), perm)):
        if not bad(i, perm[i]):  # fixed by an earlier swap
            continue
        for j in rng.integers(0, n, 64):
            if not bad(i, perm[j]) and not bad(j, perm[i]):
                perm[i], perm[j] = perm[j], perm[i]
                break
    return perm


def group_permutation(
    folds: Iterable[tuple[Callable[[np.ndarray], np.ndarray], np.ndarray, np.ndarray]],
    group_idx: dict[str, np.ndarray],
    horizons: list[int],
    loss: Loss,
    n_repeats: int = 10,
    seed: int = 0,
    days: list[np.ndarray] | None = None,
    reach: int = 0,
) -> dict[tuple[int, str], list[np.ndarray]]:
    """Each group's whole window permuted: :func:`permutation_importance` with every lag."""
    return permutation_importance(
        folds,
        {g: (cols, None) for g, cols in group_idx.items()},
        horizons,
        loss,
        n_repeats,
        seed,
        days=days,
        reach=reach,
    )


BACK_SCALES = (1, 2, 5, 20, 60)  # trailing means of the other groups: the day, the last 2, 5, 20, 60 rows
FORWARD_SCALES = (1, 5, 20)  # means of the next 1, 5, 20 steps inside the window (never past its end)
CONDITIONAL_RIDGE = 1e-3  # relative to the mean eigenvalue: near least squares (see conditional_fit)
CONTEXT_CHUNK = 256  # windows whose context is built at once
# fitted windows held in memory when they fit (float32 values: 1.6 GB), else computed per batch (n_repeats times per
# group: a 64-stock panel's 95,000 test windows x 60 x 19 took 20+ minutes that way, under 1 min held)
PRECOMPUTE_MAX = 400_000_000
WINDOW_BASIS = (
    None,
    20,
    5,
    1,
)  # the window-level parts re-fitted as a whole: the window's mean, its last 20, 5, 1 steps


def window_basis(window: int) -> np.ndarray:
    """``(T, K)`` indicator vectors of the whole window and of its last 20, 5 and 1 steps (those shorter than the
    window): the slow parts of a group's window whose relation to the other groups is fitted window by window."""
    T = int(window)
    spans = [T] + [k for k in WINDOW_BASIS[1:] if k < T]
    return np.stack([(np.arange(T) >= T - k).astype(np.float64) for k in spans], axis=1)


def window_context(rows: np.ndarray, segment_start: np.ndarray, ends: np.ndarray, window: int) -> np.ndarray:
    """``(n, T, S, F)`` float32, what the conditional map reads of every column at every step ``s`` of the windows
    ending on rows ``ends``: the means of the last 1, 2, 5, 20 and 60 rows up to ``s`` (its own series only;
    before the window too), the means of the next 1, 5 and 20 steps after ``s`` inside the window (0 at its end),
    the row before the window, and the mean over the window. Nothing after the window's last row enters."""
    rows = np.asarray(rows)
    ends = np.asarray(ends, np.int64)
    back = max(BACK_SCALES)
    T = int(window)
    idx = ends[:, None] + np.arange(-T - back + 1, 1)[None, :]  # (n, back + T)
    valid = idx >= np.asarray(segment_start)[ends][:, None]
    vals = np.where(valid[..., None], rows[np.clip(idx, 0, None)], 0.0).astype(np.float64)
    csum = np.concatenate([np.zeros((len(ends), 1, rows.shape[1])), np.cumsum(vals, axis=1)], axis=1)
    count = np.concatenate([np.zeros((len(ends), 1)), np.cumsum(valid, axis=1)], axis=1)
    pos = back + np.arange(T)  # the window's steps in the extended array
    parts = []
    for k in BACK_SCALES:
        num = csum[:, pos + 1] - csum[:, pos + 1 - k]
        parts.append(num / np.maximum(count[:, pos + 1] - count[:, pos + 1 - k], 1)[..., None])
    last = back + T - 1
    for k in FORWARD_SCALES:
        stop = np.minimum(pos + k, last)
        n_ahead = (stop - pos)[None, :, None]
        parts.append(np.where(n_ahead > 0, (csum[:, stop + 1] - csum[:, pos + 1]) / np.maximum(n_ahead, 1), 0.0))
    before = vals[:, back - 1][:, None, :]
    parts.append(np.broadcast_to(before, (len(ends), T, rows.shape[1])))
    mean = (csum[:, last + 1] - csum[:, back]) / T
    parts.append(np.broadcast_to(mean[:, None, :], (len(ends), T, rows.shape[1])))
    return np.stack(parts, axis=2).astype(np.float32)


class ConditionalFit:
    """The part of one group's window that the other groups' windows predict (:func:`conditional_fit`), indexable
    like windows: ``fit[idx] -> (len(idx), T, len(group))`` float32, computed on demand from the rows (memory stays
    O(rows)): a per-step map, plus the window-level correction of the window's slow parts (:func:`window_basis`)."""

    def __init__(
        self, rows, segment_start, ends, window: int, rest: np.ndarray, step: tuple, whole: tuple | None = None
    ):
        self.rows, self.segment_start, self.ends, self.window = rows, segment_start, np.asarray(ends), int(window)
        self.rest, self.step, self.whole = rest, step, whole  # (beta, z_mean, y_mean) each

    def __len__(self) -> int:
        return len(self.ends)

    def _full(self, part: tuple, width: int) -> tuple[np.ndarray, np.ndarray]:
        """A regression on the rest's context columns as one on every column (zero rows on the group's own), so
        the context is multiplied as it is, never copied column by column: ``(beta (S F, c), offset (c,))``."""
        beta, x_mean, y_mean = part
        S = width // self.rows.shape[1]
        x = (np.arange(S)[:, None] * self.rows.shape[1] + self.rest[None, :]).ravel()
        full = np.zeros((width, beta.shape[1]), np.float32)
        full[x] = beta
        return full, (y_mean - x_mean @ beta).astype(np.float32)

    def predict(self, ctx: np.ndarray) -> np.ndarray:
        """``(n, T, c)`` from :func:`window_context` ``(n, T, S, F)`` of the windows."""
        n, T, S, F = ctx.shape
        cache = self.__dict__.setdefault("_coef", {})
        if "step" not in cache:
            cache["step"] = self._full(self.step, S * F)
            cache["whole"] = self._full(self.whole, S * F) if self.whole is not None else None
        beta, offset = cache["step"]
        out = (ctx.reshape(n * T, S * F) @ beta + offset).reshape(n, T, -1)
        if cache["whole"] is not None:
            beta2, offset2 = cache["whole"]
            coords = (ctx[:, -1].reshape(n, S * F) @ beta2 + offset2).reshape(n, -1, out.shape[2])
            out = out + np.einsum("tk,nkc->ntc", window_basis(T).astype(np.float32), coords)
        return out.astype(np.float32, copy=False)

    def __getitem__(self, idx) -> np.ndarray:
        idx = np.atleast_1d(np.asarray(idx))
        if self.__dict__.get("held") is not None:
            return self.held[idx]
        c = len(self.step[2])
        out = np.empty((len(idx), self.window, c), np.float32)
        for i0 in range(0, len(idx), CONTEXT_CHUNK):
            part = idx[i0 : i0 + CONTEXT_CHUNK]
            out[i0 : i0 + len(part)] = self.predict(
                window_context(self.rows, self.segment_start, self.ends[part], self.window)
            )
        return out


class _Cov:
    """The centred cross-products of a design ``z`` ``(n, p)`` (float64), from which the ridge regression of any of
    its columns, or of outside targets, on any other columns is a solve: the penalty relative to the mean variance
    of the predictors used. A ``ridge`` of 0 is least squares (minimum norm where predictors are collinear)."""

    def __init__(self, z: np.ndarray):
        self.z = z
        self.mean = z.mean(axis=0, dtype=np.float64)
        zc = z - self.mean.astype(z.dtype)
        self.gram = (zc.T @ zc).astype(np.float64)

    def _solve(self, x: np.ndarray, xy: np.ndarray, ridge: float) -> np.ndarray:
        g = self.gram[np.ix_(x, x)]
        if ridge > 0:
            scale = max(float(np.trace(g)) / max(len(g), 1), 1e-12)
            return np.linalg.solve(g + ridge * scale * np.eye(len(g)), xy)
        return np.linalg.lstsq(g, xy, rcond=None)[0]

    def fit(self, x: np.ndarray, y: np.ndarray, ridge: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(beta (p, c), x_mean, y_mean)`` float32: columns ``y`` on columns ``x``."""
        beta = self._solve(x, self.gram[np.ix_(x, y)], ridge) if len(x) else np.zeros((0, len(y)))
        return beta.astype(np.float32), self.mean[x].astype(np.float32), self.mean[y].astype(np.float32)

    def fit_to(self, x: np.ndarray, target: np.ndarray, ridge: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The same for an outside target ``(n, c)``."""
        t_mean = target.mean(axis=0)
        xy = (self.z[:, x] - self.mean[x].astype(self.z.dtype)).T.astype(np.float64) @ (target - t_mean)
        return self._solve(x, xy, ridge).astype(np.float32), self.mean[x].astype(np.float32), t_mean.astype(np.float32)


def conditional_fit(
    rows: np.ndarray,
    segment_start: np.ndarray,
    ends: np.ndarray,
    window: int,
    group_idx: dict[str, np.ndarray],
    ridge: float = CONDITIONAL_RIDGE,
    max_windows: int | None = None,
    seed: int = 0,
) -> dict[str, ConditionalFit]:
    """Per group, the map from the other groups' windows to the group's window, fitted on the windows ending on
    ``ends`` (the ones that will be permuted, e.g. a fold's test windows; inputs only, never an outcome; at most
    ``max_windows`` of them, default 30,000 steps' worth, drawn with ``seed``): on every step, a regression of the
    group's columns on :func:`window_context` of the other columns (their past, the rest of the window after the
    step, the row before the window and the window's mean), pooled over steps; then the slow parts of the group's
    window that this leaves (its mean over the window and over its last 20, 5 and 1 steps) on the other groups'
    window-level context, window by window (when there are more windows than predictors twice over). Conditioning
    on the whole window,
    not only the same row, keeps dependence across lags when the group's window is permuted: a moving average
    today against the returns before it, and a day's return against the moving averages after it.

    Near least squares on purpose: its residuals are orthogonal to every predictor on the fitted steps, so the part
    that is permuted holds nothing the other groups predict linearly. A penalty chosen for prediction shrinks the
    fit and leaves part of a correlated informative group in the residual: permuting it then calls a redundant group
    important (tests/test_claims.py). Overfitting instead only shrinks what is permuted (less power, never a false
    claim)."""
    rows = np.asarray(rows)
    ends = np.asarray(ends, np.int64)
    T = int(window)
    cap = max_windows or max(1, 30000 // T)
    use = ends if len(ends) <= cap else np.sort(np.random.default_rng(seed).choice(ends, cap, replace=False))
    ctx = np.concatenate(
        [window_context(rows, segment_start, use[i : i + CONTEXT_CHUNK], T) for i in range(0, len(use), CONTEXT_CHUNK)]
    )  # (m, T, S, F)
    m, F, S = len(use), rows.shape[1], ctx.shape[2]
    flat = lambda cols: (np.arange(S)[:, None] * F + np.asarray(cols)[None, :]).ravel()  # noqa: E731  context columns
    # one covariance of every context column on the fitted steps: each group's regression is a block of it (the
    # group's own values are the context's first scale, its rows themselves)
    step_cov = _Cov(ctx.reshape(m * T, S * F))
    last_cov = _Cov(ctx[:, -1].reshape(m, S * F))
    basis = window_basis(T)
    own = BACK_SCALES.index(1)
    out = {}
    for g, cols in group_idx.items():
        cols = np.asarray(cols)
        rest = np.setdiff1d(np.arange(F), cols)
        step = step_cov.fit(flat(rest), own * F + cols, ridge)
        fit = ConditionalFit(rows, segment_start, ends, T, rest, step, None)
        if len(rest) and m > 2 * len(rest) * S:  # enough windows for the window-level map of the slow parts
            resid = ctx[:, :, own][..., cols] - fit.predict(ctx)  # (m, T, c)
            coords = np.linalg.lstsq(basis, resid.transpose(1, 0, 2).reshape(T, -1), rcond=None)[0]  # (K, m c)
            coords = coords.reshape(len(basis.T), m, len(cols)).transpose(1, 0, 2).reshape(m, -1)
            fit.whole = last_cov.fit_to(flat(rest), coords, ridge)
            fit.__dict__.pop("_coef", None)
        out[g] = fit
    if len(ends) * T * F <= PRECOMPUTE_MAX:  # every window's fitted parts at once: one context per window, all groups
        held = {g: np.empty((len(ends), T, len(np.asarray(cols))), np.float32) for g, cols in group_idx.items()}
        for i in range(0, len(ends), CONTEXT_CHUNK):
            part = (
                ctx[i : i + CONTEXT_CHUNK]
                if use is ends
                else window_context(rows, segment_start, ends[i : i + CONTEXT_CHUNK], T)
            )
            for g, fit in out.items():
                held[g][i : i + len(part)] = fit.predict(part)
        for g, fit in out.items():
            fit.held = held[g]
    return out


def conditional_permutation(
    folds: Iterable[tuple[Callable[[np.ndarray], np.ndarray], np.ndarray, np.ndarray]],
    group_idx: dict[str, np.ndarray],
    coefficients: list[dict[str, np.ndarray]],
    horizons: list[int],
    loss: Loss,
    n_repeats: int = 10,
    seed: int = 0,
    centre: bool = True,
    days: list[np.ndarray] | None = None,
    reach: int = 0,
) -> dict[tuple[int, str], list[np.ndarray]]:
    """Each group's whole window permuted conditionally on the other groups' windows (``coefficients``: per fold,
    :func:`conditional_fit` on its test windows' inputs): what the group holds that the others do not.

    ``centre`` (default): each sample's value is the part of its loss increase that depends on the outcome (see
    :func:`permutation_importance`). No fitted map reproduces the joint law of many overlapping indicators
    across a long window exactly; the windows it builds sit a little off the data, and a model answers them with
    predictions further from its usual range, whose loss is higher against *any* outcome. Centred, the statistic
    is ``(y - ȳ)·(g(p) - g(p'))``: zero on average whenever the outcome does not depend on the inputs, whatever
    the map (the calibration study's same-day map: 100% uncentred, 3% centred); a group whose information the model
    uses still raises it, and a permutation that only pulls predictions towards the mean costs nothing."""
    return permutation_importance(
        folds,
        {g: (cols, None) for g, cols in group_idx.items()},
        horizons,
        loss,
        n_repeats,
        seed,
        conditional=coefficients,
        centre=centre,
        days=days,
        reach=reach,
    )


def drop_group_retrain(
    run_all: Callable[[list[tuple[int, int, str | None]]], list[np.ndarray]],
    folds: list[int],
    seeds: list[int],
    groups: list[str],
    y_test: dict[int, np.ndarray],
    horizons: list[int],
    loss: Loss,
    reseed_offset: int = 1000,
) -> tuple[dict[tuple[int, str], list[np.ndarray]], dict[int, list[np.ndarray]]]:
    """``run_all(jobs)`` trains, for every ``(fold, seed, group)``, the unit without ``group`` (``None``:
    the full model) and returns its test predictions ``(N_fold, H)``, in order (the caller picks the
    executor and device). The full models are trained by the same ``run_all`` as the drop-group ones, so
    both share the job path and device and differ only by the group. Returns per-sample loss increases of
    each drop-group ensemble over the full one, ``(horizon, group) -> [per fold]``, and the same for a full
    model retrained with seeds ``seed + reseed_offset`` (the floor), ``horizon -> [per fold]``."""
    jobs = [(f, s, g) for g in groups for f in folds for s in seeds]
    jobs += [(f, s, None) for f in folds for s in seeds]
    jobs += [(f, s + reseed_offset, None) for f in folds for s in seeds]
    preds = dict(zip(jobs, run_all(jobs)))
    drops: dict[tuple[int, str], list[np.ndarray]] = {}
    floor: dict[int, list[np.ndarray]] = {}
    for f in folds:
        y = y_test[f]
        full = np.mean([preds[(f, s, None)] for s in seeds], axis=0)
        base = [loss(y[:, j], full[:, j]) for j in range(len(horizons))]
        for g in [*groups, None]:
            seeds_g = [s + reseed_offset for s in seeds] if g is None else seeds
            ens = np.mean([preds[(f, s, g)] for s in seeds_g], axis=0)
            for j, h in enumerate(horizons):
                inc = loss(y[:, j], ens[:, j]) - base[j]
                (floor.setdefault(h, []) if g is None else drops.setdefault((h, g), [])).append(inc)
    return drops, floor
