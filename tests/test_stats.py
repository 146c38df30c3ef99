"""Tests of toolkit.analysis._stats against closed forms and scipy as an independent oracle."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from toolkit.analysis._stats import (
    MIN_EXPECTED_FOR_Z,
    Z95,
    benjamini_hochberg,
    wilson_interval,
    worse_than_rest_p_values,
)

Z = 1.959963984540054  # norm.ppf(0.975), written out


def wilson_textbook(k: int, n: int, z: float = Z) -> tuple[float, float]:
    """Wilson (1927) in the form (k + z²/2 ± z·sqrt(k(n-k)/n + z²/4)) / (n + z²)."""
    centre = k + z * z / 2
    half = z * math.sqrt(k * (n - k) / n + z * z / 4)
    return (centre - half) / (n + z * z), (centre + half) / (n + z * z)


def bh_by_hand(p: list[float]) -> list[float]:
    """Benjamini–Hochberg step-up: q_(i) = min over j >= i of p_(j) * m / j, capped at 1."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    q = [0.0] * m
    running = 1.0
    for rank in range(m, 0, -1):  # from the largest p down
        i = order[rank - 1]
        running = min(running, p[i] * m / rank)
        q[i] = running
    return q


# ---------------------------------------------------------------- Wilson interval


def test_z95_is_the_two_sided_95_percent_quantile():
    assert Z95 == pytest.approx(Z, abs=1e-12)


@pytest.mark.parametrize(
    ("k", "n"),
    [(0, 1), (1, 1), (0, 4), (1, 4), (3, 4), (4, 4), (3, 10), (0, 50), (50, 50), (17, 250)],
)
def test_wilson_matches_closed_form_and_scipy(k, n):
    low, high = wilson_interval(np.array([k]), np.array([n]))
    textbook = wilson_textbook(k, n)
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert low[0] == pytest.approx(textbook[0], abs=1e-12)
    assert high[0] == pytest.approx(textbook[1], abs=1e-12)
    assert low[0] == pytest.approx(ci.low, abs=1e-12)
    assert high[0] == pytest.approx(ci.high, abs=1e-12)
    assert 0.0 <= low[0] <= k / n <= high[0] <= 1.0


def test_wilson_ends_are_exact_for_no_errors_and_all_errors():
    # k = 0: low is 0 and high = z² / (n + z²); k = n: high is 1 and low = n / (n + z²)
    low, high = wilson_interval(np.array([0, 4]), np.array([4, 4]))
    assert low[0] == 0.0
    assert high[0] == pytest.approx(Z**2 / (4 + Z**2), abs=1e-12)  # 0.489897...
    assert high[1] == 1.0
    assert low[1] == pytest.approx(4 / (4 + Z**2), abs=1e-12)  # 0.510102...


def test_wilson_hand_value():
    # k = 1, n = 4: (1 + z²/2 ± z sqrt(3/4 + z²/4)) / (4 + z²) = 0.0455873, 0.6993582
    low, high = wilson_interval(np.array([1]), np.array([4]))
    assert low[0] == pytest.approx(0.0455873, abs=1e-7)
    assert high[0] == pytest.approx(0.6993582, abs=1e-7)


def test_wilson_is_vectorised_and_empty_groups_get_nan():
    k = np.array([0, 2, 5, 0])
    n = np.array([3, 9, 5, 0])
    low, high = wilson_interval(k, n)
    for i in range(3):
        assert (low[i], high[i]) == pytest.approx(wilson_textbook(int(k[i]), int(n[i])))
    assert np.isnan(low[3]) and np.isnan(high[3])


def test_wilson_with_another_z():
    # z = 1 (a 68% interval) still follows the closed form
    low, high = wilson_interval(np.array([3]), np.array([10]), z=1.0)
    assert (low[0], high[0]) == pytest.approx(wilson_textbook(3, 10, z=1.0), abs=1e-12)


# ---------------------------------------------------------------- worse-than-rest test


def test_z_branch_matches_hand_computation():
    # group: 30 errors of 100; rest: 70 of 400. pooled = 100/500 = 0.2.
    # expected cells 20, 80, 80, 320 are all >= 5, so the pooled z test is used:
    # se = sqrt(0.2 * 0.8 * (1/100 + 1/400)) = sqrt(0.002); z = (0.30 - 0.175) / se = 2.79508
    se = math.sqrt(0.2 * 0.8 * (1 / 100 + 1 / 400))
    z = (30 / 100 - 70 / 400) / se
    assert z == pytest.approx(2.7950850, abs=1e-6)
    p = worse_than_rest_p_values(np.array([30]), np.array([100]), 100, 500)
    assert p[0] == pytest.approx(stats.norm.sf(z), rel=1e-12)
    assert p[0] == pytest.approx(0.5 * math.erfc(z / math.sqrt(2)), rel=1e-12)


def test_z_branch_is_one_sided():
    # a group better than the rest gets a p-value above 1/2 (the same z, the other tail)
    se = math.sqrt(0.2 * 0.8 * (1 / 100 + 1 / 400))
    z = (10 / 100 - 90 / 400) / se
    p = worse_than_rest_p_values(np.array([10]), np.array([100]), 100, 500)
    assert p[0] == pytest.approx(stats.norm.sf(z), rel=1e-12)
    assert p[0] > 0.99


def test_fisher_branch_matches_scipy_and_hypergeometric_tail():
    # 3 errors of 4 in the group, 4 errors of 10 overall: expected 4 * 0.4 = 1.6 < 5.
    # P(X >= 3), X ~ Hypergeometric(N=10, K=4, draws=4) = (C(4,3)C(6,1) + C(4,4)) / C(10,4)
    #   = (24 + 1) / 210 = 5/42
    p = worse_than_rest_p_values(np.array([3]), np.array([4]), 4, 10)
    oracle = stats.fisher_exact([[3, 1], [1, 5]], alternative="greater").pvalue
    assert p[0] == pytest.approx(5 / 42, rel=1e-12)
    assert p[0] == pytest.approx(oracle, rel=1e-12)


@pytest.mark.parametrize(
    ("k1", "n1", "k", "n"),
    [(0, 3, 4, 10), (2, 2, 3, 40), (4, 30, 6, 200), (9, 12, 10, 15), (1, 1, 1, 2)],
)
def test_fisher_branch_for_small_expected_counts(k1, n1, k, n):
    table = [[k1, n1 - k1], [k - k1, (n - n1) - (k - k1)]]
    pooled = k / n
    expected = min(n1 * pooled, n1 * (1 - pooled), (n - n1) * pooled, (n - n1) * (1 - pooled))
    assert expected < MIN_EXPECTED_FOR_Z
    p = worse_than_rest_p_values(np.array([k1]), np.array([n1]), k, n)
    assert p[0] == pytest.approx(stats.fisher_exact(table, alternative="greater").pvalue)


def test_expected_count_of_exactly_five_uses_the_z_test():
    # n1 = 10, pooled = 0.5 -> smallest expected cell is 10 * 0.5 = 5
    k1, n1, k, n = 8, 10, 20, 40
    se = math.sqrt(0.5 * 0.5 * (1 / n1 + 1 / (n - n1)))
    z = (k1 / n1 - (k - k1) / (n - n1)) / se
    p = worse_than_rest_p_values(np.array([k1]), np.array([n1]), k, n)
    assert p[0] == pytest.approx(stats.norm.sf(z), rel=1e-12)


def test_group_that_is_the_whole_data_or_empty_gets_p_one():
    p = worse_than_rest_p_values(np.array([4, 0]), np.array([10, 0]), 4, 10)
    assert p.tolist() == [1.0, 1.0]


def test_no_errors_at_all_gives_p_one():
    # pooled rate 0: every expected error count is 0, Fisher gives P(X >= 0) = 1
    p = worse_than_rest_p_values(np.array([0, 0]), np.array([5, 50]), 0, 100)
    assert p.tolist() == [1.0, 1.0]


def test_vectorised_mix_of_branches():
    errors_in = np.array([30, 3, 0])
    n_in = np.array([100, 4, 7])
    p = worse_than_rest_p_values(errors_in, n_in, 40, 300)
    # row 0: expected 100 * 40/300 = 13.3 and others >= 5 -> z test
    se = math.sqrt((40 / 300) * (260 / 300) * (1 / 100 + 1 / 200))
    z = (30 / 100 - 10 / 200) / se
    assert p[0] == pytest.approx(stats.norm.sf(z), rel=1e-12)
    # rows 1 and 2: small groups -> Fisher
    fisher1 = stats.fisher_exact([[3, 1], [37, 259]], alternative="greater").pvalue
    assert p[1] == pytest.approx(fisher1, rel=1e-12)
    assert p[2] == pytest.approx(1.0)


# ---------------------------------------------------------------- Benjamini–Hochberg


def test_benjamini_hochberg_hand_computation():
    # p = [0.01, 0.04, 0.03, 0.2], m = 4; sorted with ranks 1..4: 0.01, 0.03, 0.04, 0.2
    #   p * m / rank: 0.04, 0.06, 0.053333, 0.2
    #   step-up (running minimum from the largest rank): 0.04, 0.053333, 0.053333, 0.2
    # back in input order: [0.04, 0.053333, 0.053333, 0.2]
    p = [0.01, 0.04, 0.03, 0.2]
    q = benjamini_hochberg(np.array(p))
    assert q == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.2], abs=1e-12)
    assert q == pytest.approx(bh_by_hand(p), abs=1e-12)


def test_benjamini_hochberg_caps_at_one_and_keeps_ties():
    p = [0.9, 0.9, 0.5]
    # sorted 0.5, 0.9, 0.9 -> 1.5, 1.35, 0.9 -> running min: 0.9, 0.9, 0.9
    assert benjamini_hochberg(np.array(p)) == pytest.approx([0.9, 0.9, 0.9])
    assert benjamini_hochberg(np.array([0.6, 0.8])) == pytest.approx(bh_by_hand([0.6, 0.8]))
    assert max(bh_by_hand([0.6, 0.8])) <= 1.0


def test_benjamini_hochberg_random_against_hand_loop():
    rng = np.random.default_rng(0)
    p = rng.uniform(size=40) ** 3
    q = benjamini_hochberg(p)
    assert q == pytest.approx(bh_by_hand(p.tolist()), abs=1e-12)
    assert np.all(q >= p)
    # monotone in p
    order = np.argsort(p)
    assert np.all(np.diff(q[order]) >= -1e-15)


def test_benjamini_hochberg_edge_sizes():
    assert benjamini_hochberg(np.array([])).shape == (0,)
    assert benjamini_hochberg(np.array([0.03])) == pytest.approx([0.03])


def test_totals_may_differ_per_group():
    # each group against the rest of its own parent: one call equals one call per group
    k1, n1 = np.array([8, 3, 30, 2]), np.array([10, 20, 60, 4])
    k_all, n_all = np.array([20, 9, 50, 30]), np.array([100, 40, 200, 60])
    together = worse_than_rest_p_values(k1, n1, k_all, n_all)
    one_by_one = [
        worse_than_rest_p_values(k1[i : i + 1], n1[i : i + 1], int(k_all[i]), int(n_all[i]))[0]
        for i in range(4)
    ]
    np.testing.assert_array_equal(together, one_by_one)


def test_skip_above_only_skips_exact_tests_surely_above_it():
    # small groups (Fisher's test) with few to all errors, out of 30 errors in 300 rows
    k1 = np.array([0, 1, 2, 3, 4, 5, 5, 6, 8, 10])
    n1 = np.array([10, 10, 10, 10, 10, 10, 20, 8, 8, 10])
    level = 1e-4
    full = worse_than_rest_p_values(k1, n1, 30, 300)
    quick = worse_than_rest_p_values(k1, n1, 30, 300, skip_above=level)
    below = full < level
    assert below.any() and (~below).any()
    np.testing.assert_array_equal(quick[below], full[below])  # what passes is exact
    assert np.all((quick[~below] == full[~below]) | (quick[~below] == 1.0))
    # the first term of the tail, P(X = k1), is a lower bound of the p-value
    first = stats.hypergeom.pmf(k1, 300, 30, n1)
    assert np.all(first <= full + 1e-15)
