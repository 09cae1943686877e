"""Clustered feature importance (López de Prado, 2020): features that move together are judged together.

Features are clustered on the training rows by the correlation distance ``sqrt((1 - rho) / 2)`` (``rho``:
Spearman correlation), average-linkage hierarchical clustering, cut where the silhouette score is highest.
Importance is then measured per cluster (the caller permutes every column of a cluster at once, and sums
attributions over it) beside the user's groups. A cluster that spans several groups is named: those
groups' shares cannot be separated, whatever a per-group method says.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Clusters:
    """``members``: cluster name -> column positions; ``groups``: cluster name -> the groups it spans;
    ``k``: the number of clusters; ``silhouette``: the score of the chosen cut (nan when not clustered)."""

    members: dict[str, np.ndarray]
    groups: dict[str, list[str]]
    k: int
    silhouette: float
    correlation: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0)))

    def cross_group(self) -> dict[str, list[str]]:
        return {c: g for c, g in self.groups.items() if len(g) > 1}


def correlation_distance(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spearman ``rho`` ``(F, F)`` of ``rows`` ``(n, F)`` and the distance ``sqrt((1 - rho) / 2)``; a
    constant column is uncorrelated with everything."""
    from scipy.stats import rankdata

    ranks = rankdata(rows, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.corrcoef(ranks, rowvar=False)
    rho = np.nan_to_num(np.atleast_2d(rho), nan=0.0)
    np.fill_diagonal(rho, 1.0)
    return rho, np.sqrt(np.clip((1.0 - rho) / 2.0, 0.0, 1.0))


def correlation_clusters(
    rows: np.ndarray, columns: list[str], groups: dict[str, list[str]], max_clusters: int = 30
) -> Clusters:
    """Cluster the columns of ``rows`` ``(n, F)`` (training rows, scaled or not). Cluster names: the group's
    name when a cluster is exactly one whole group, the groups it spans joined by ``+``, or ``group: column``
    / ``group (part)`` for part of one group (numbered when repeated)."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform
    from sklearn.metrics import silhouette_score

    F = rows.shape[1]
    rho, dist = correlation_distance(rows)
    if F < 3:
        labels, k, score = np.arange(1, F + 1), F, float("nan")
    else:
        Z = linkage(squareform(dist, checks=False), method="average")
        best = (-np.inf, None)
        for k in range(2, min(F - 1, max_clusters) + 1):
            labels = fcluster(Z, k, criterion="maxclust")
            if len(np.unique(labels)) < 2:
                continue
            s = silhouette_score(dist, labels, metric="precomputed")
            if s > best[0] + 1e-12:
                best = (s, labels)
        score, labels = (float(best[0]), best[1]) if best[1] is not None else (float("nan"), np.ones(F, int))
        k = len(np.unique(labels))
    group_of = {c: g for g, cols in groups.items() for c in cols}
    members: dict[str, np.ndarray] = {}
    spans: dict[str, list[str]] = {}
    for lab in sorted(np.unique(labels), key=lambda l: np.flatnonzero(labels == l)[0]):
        idx = np.flatnonzero(labels == lab)
        gs = sorted({group_of.get(columns[i], columns[i]) for i in idx})
        whole = len(gs) == 1 and set(groups.get(gs[0], [])) == {columns[i] for i in idx}
        name = (
            gs[0]
            if whole
            else "+".join(gs)
            if len(gs) > 1
            else f"{gs[0]}: {columns[idx[0]]}"
            if len(idx) == 1
            else f"{gs[0]} (part)"
        )
        base, n = name, 2
        while name in members:
            name, n = f"{base} #{n}", n + 1
        members[name], spans[name] = idx, gs
    return Clusters(members, spans, int(k), score, rho)


def cluster_sentences(cl: Clusters, columns: list[str], limit: int = 6) -> list[str]:
    """One sentence per cluster that cuts across groups."""
    out = []
    for name, gs in list(cl.cross_group().items())[:limit]:
        idx = cl.members[name]
        sub = cl.correlation[np.ix_(idx, idx)]
        off = np.abs(sub[~np.eye(len(idx), dtype=bool)])
        cols = ", ".join(columns[i] for i in idx[:6]) + (", ..." if len(idx) > 6 else "")
        joined = ", ".join(gs[:-1]) + " and " + gs[-1]
        out.append(
            f"{joined} move together ({cols}; median |ρ| {np.median(off):.2f} on training rows): "
            "their shares are not separable; read the cluster's importance instead."
        )
    return out
