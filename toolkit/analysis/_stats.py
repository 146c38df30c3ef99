"""Small statistical helpers shared by the analyses (vectorised, no I/O)."""

from __future__ import annotations

import numpy as np
from scipy import special, stats

#: z of a two-sided 95% interval.
Z95 = float(stats.norm.ppf(0.975))
#: Below this expected count in any cell, use Fisher's exact test instead of the z test.
MIN_EXPECTED_FOR_Z = 5.0


def wilson_interval(
    errors: np.ndarray, n: np.ndarray, z: float = Z95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion ``errors / n`` (elementwise).

    Rows with ``n == 0`` get NaN bounds.
    """
    k = np.asarray(errors, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1.0 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
        low = np.clip(centre - half, 0.0, 1.0)
        high = np.clip(centre + half, 0.0, 1.0)
    # exact ends: no error -> low is 0, all errors -> high is 1 (removes rounding noise)
    low = np.where((k == 0) & (n > 0), 0.0, low)
    high = np.where((k == n) & (n > 0), 1.0, high)
    return low, high


def worse_than_rest_p_values(
    errors_in: np.ndarray,
    n_in: np.ndarray,
    errors_total: int | np.ndarray,
    n_total: int | np.ndarray,
    skip_above: float | None = None,
) -> np.ndarray:
    """One-sided p-values that a group's error rate exceeds that of the rest of the data.

    A pooled two-proportion z test when every expected cell count of the 2x2 table is
    at least 5, otherwise Fisher's exact test (alternative ``"greater"``). A group that
    is the whole data (no rest to compare with) gets p = 1. The totals are one number
    or one per group (each group against the rest of its own parent, say).

    With ``skip_above``, an exact test whose p-value is surely above it (its first
    term, the probability of exactly the observed errors, already is) is not computed
    and reported as 1: for callers that only compare p-values with ``skip_above``.
    """
    k1 = np.asarray(errors_in, dtype=float)
    n1 = np.asarray(n_in, dtype=float)
    k_all = np.broadcast_to(np.asarray(errors_total, dtype=float), k1.shape)
    n_all = np.broadcast_to(np.asarray(n_total, dtype=float), k1.shape)
    k2 = k_all - k1
    n2 = n_all - n1
    p_values = np.ones(k1.shape[0])
    valid = (n1 > 0) & (n2 > 0)
    pooled = (k1 + k2) / np.maximum(n1 + n2, 1)
    expected = np.minimum.reduce([n1 * pooled, n1 * (1 - pooled), n2 * pooled, n2 * (1 - pooled)])
    use_z = valid & (expected >= MIN_EXPECTED_FOR_Z)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        z = (k1 / n1 - k2 / n2) / se
    p_values[use_z] = special.ndtr(-z[use_z])  # the normal upper tail, norm.sf
    exact = valid & ~use_z
    if exact.any():
        # the exact test counts rows: effective (weighted) counts are rounded for it
        k1, n1, k_all, n_all = (np.rint(x) for x in (k1, n1, k_all, n_all))
    if skip_above is not None and exact.any():
        first_term = _hypergeom_log_pmf(k1[exact], n_all[exact], k_all[exact], n1[exact])
        exact[exact] = first_term <= np.log(skip_above) + 1e-9
    if exact.any():
        # One-sided Fisher exact test = upper tail of the hypergeometric distribution:
        # P(X >= k1) for X ~ Hypergeom(total rows, total errors, rows in the group).
        p_values[exact] = stats.hypergeom.sf(k1[exact] - 1, n_all[exact], k_all[exact], n1[exact])
    return np.clip(np.nan_to_num(p_values, nan=1.0), 0.0, 1.0)


def effective_counts(
    errors: np.ndarray, n: np.ndarray, sq: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Kish effective counts of weighted sums: ``n_eff = W² / Σw²`` rows and
    ``errors_eff = E W / Σw²`` errors (the same error rate ``E / W``), from the weighted
    errors ``E``, the weight ``W`` and the sum of squared weights ``Σw²`` of each group.

    With unit weights (``E`` errors, ``W = Σw² = n``) they are the counts themselves,
    exactly. Groups with no weight get 0 and 0.

    >>> k, n = effective_counts(np.array([3.0]), np.array([4.0]), np.array([6.0]))
    >>> float(k[0]), round(float(n[0]), 4)  # weights 2, 1, 1, 0 with errors on 2 and 1
    (2.0, 2.6667)
    """
    e = np.asarray(errors, dtype=float)
    w = np.asarray(n, dtype=float)
    s = np.asarray(sq, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        k_eff = np.where(s > 0, e * w / s, 0.0)
        n_eff = np.where(s > 0, w * w / s, 0.0)
    return k_eff, n_eff


def rest_p_values(
    errors_in: np.ndarray,
    n_in: np.ndarray,
    sq_in: np.ndarray | None,
    errors_total: float | np.ndarray,
    n_total: float | np.ndarray,
    sq_total: float | np.ndarray | None,
    skip_above: float | None = None,
) -> np.ndarray:
    """:func:`worse_than_rest_p_values` of weighted groups: ``errors`` and ``n`` are
    weighted sums and ``sq`` the sums of squared weights, of each group and of all rows.
    The group and the rest of the rows are each replaced by their Kish effective counts
    (:func:`effective_counts`). ``sq_in`` None: unweighted counts (the plain test).
    """
    if sq_in is None:
        return worse_than_rest_p_values(errors_in, n_in, errors_total, n_total, skip_above)
    e1 = np.asarray(errors_in, dtype=float)
    n1 = np.asarray(n_in, dtype=float)
    s1 = np.asarray(sq_in, dtype=float)
    # the rest by difference; clipped at 0 against rounding when a group is every row
    e2 = np.maximum(np.asarray(errors_total, dtype=float) - e1, 0.0)
    n2 = np.maximum(np.asarray(n_total, dtype=float) - n1, 0.0)
    s2 = np.maximum(np.asarray(sq_total, dtype=float) - s1, 0.0)
    k_in, m_in = effective_counts(e1, n1, s1)
    k_rest, m_rest = effective_counts(np.minimum(e2, n2), n2, s2)
    return worse_than_rest_p_values(k_in, m_in, k_in + k_rest, m_in + m_rest, skip_above)


def _hypergeom_log_pmf(
    k: np.ndarray, n_total: np.ndarray, k_total: np.ndarray, n: np.ndarray
) -> np.ndarray:
    """log P(X = k) for X ~ Hypergeom(n_total rows, k_total errors, n rows drawn)."""

    def log_choose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return special.gammaln(a + 1) - special.gammaln(b + 1) - special.gammaln(a - b + 1)

    return log_choose(k_total, k) + log_choose(n_total - k_total, n - k) - log_choose(n_total, n)


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values); empty input gives empty output."""
    p = np.asarray(p_values, dtype=float)
    if p.size == 0:
        return p.copy()
    return stats.false_discovery_control(p, method="bh")


def paired_mean_interval(
    n: np.ndarray,
    sum_d: np.ndarray,
    sum_d2: np.ndarray,
    z: float = Z95,
    *,
    sum_w2: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean of paired per-row differences and its normal 95% interval, from group sums.

    ``d`` is one system's per-row term minus the other's on the rows both cover (an error
    indicator, a log loss, an absolute error), so the mean is the difference of the two
    systems' metrics and its standard error carries the pairing: ``sd(d) / sqrt(n)``
    with the sample standard deviation (ddof=1). Vectorised over groups given ``n``,
    ``sum(d)`` and ``sum(d**2)`` per group; groups with ``n < 2`` get NaN bounds and
    ``n == 0`` a NaN mean.

    Weighted rows: ``n`` is the sum of the weights, ``sum_d`` and ``sum_d2`` the weighted
    sums ``Σ w d`` and ``Σ w d²``, and ``sum_w2`` the sum of squared weights. The mean is
    the weighted mean, the variance the weighted one with the reliability-weights
    correction (``Σ w (d - mean)² / (W - Σw² / W)``, ddof=1 for unit weights), and the
    standard error ``sd / sqrt(n_eff)`` with the Kish effective size ``n_eff = W² / Σw²``;
    groups with ``n_eff <= 1`` get NaN bounds. Unit weights give the unweighted numbers.

    >>> mean, low, high = paired_mean_interval(np.array([4]), np.array([2.0]), np.array([2.0]))
    >>> float(mean[0]), round(float(low[0]), 3), round(float(high[0]), 3)
    (0.5, -0.066, 1.066)
    """
    n = np.asarray(n, dtype=float)
    sum_d = np.asarray(sum_d, dtype=float)
    sum_d2 = np.asarray(sum_d2, dtype=float)
    if sum_w2 is None:
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = sum_d / n
            var = np.maximum(sum_d2 - n * mean**2, 0.0) / (n - 1)
            half = z * np.sqrt(var / n)
        half = np.where(n >= 2, half, np.nan)
        return mean, mean - half, mean + half
    sq = np.asarray(sum_w2, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sum_d / n
        n_eff = n * n / sq
        var = np.maximum(sum_d2 - n * mean**2, 0.0) / (n - sq / n)
        half = z * np.sqrt(var / n_eff)
    half = np.where(n_eff > 1 + 1e-9, half, np.nan)
    return mean, mean - half, mean + half
