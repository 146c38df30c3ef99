"""Real data that ships with toolkit (offline)."""

from toolkit.datasets.adult import ADULT_COLUMNS, load_adult

__all__ = ["ADULT_COLUMNS", "load_adult"]
