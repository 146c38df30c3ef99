"""The UCI Adult census income data (48,842 rows), vendored compressed.

Source: Becker, B. & Kohavi, R. (1996). Adult [Dataset]. UCI Machine Learning
Repository. https://doi.org/10.24432/C5XW20 — licensed CC BY 4.0. The raw files
``adult.data`` and ``adult.test`` are unchanged apart from gzip compression (see
``ATTRIBUTION.md`` beside this module).
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

__all__ = ["ADULT_COLUMNS", "ADULT_TARGET", "load_adult"]

ADULT_COLUMNS = [
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education_num",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital_gain",
    "capital_loss",
    "hours_per_week",
    "native_country",
    "income",
]
ADULT_TARGET = "income"
_CATEGORICAL = [
    "workclass",
    "education",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "native_country",
]


def _read(name: str, skiprows: int) -> pd.DataFrame:
    path = resources.files("toolkit.datasets").joinpath(name)
    with resources.as_file(path) as file:
        frame = pd.read_csv(
            file,
            names=ADULT_COLUMNS,
            header=None,
            skiprows=skiprows,
            skipinitialspace=True,
            na_values="?",
            compression="gzip",
            index_col=False,
        )
    frame = frame.dropna(how="all")
    # the test file writes labels as ">50K." with a trailing dot
    frame[ADULT_TARGET] = frame[ADULT_TARGET].astype(object).str.rstrip(".")
    for column in _CATEGORICAL:
        frame[column] = frame[column].astype(object)
    return frame.reset_index(drop=True)


def load_adult() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The official train (32,561 rows) and test (16,281 rows) splits.

    Missing values ("?" in the raw files: workclass, occupation, native_country) are
    kept as NaN; ``fnlwgt`` (a census sampling weight) is kept as in the source.
    The target column ``income`` holds ``"<=50K"`` or ``">50K"``.
    """
    return _read("adult.data.gz", 0), _read("adult.test.gz", 1)
