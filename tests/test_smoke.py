"""Importing toolkit is cheap: the heavy libraries load only when a name needs them."""

from conftest import loaded_modules


def test_import_toolkit_loads_no_heavy_dependency():
    heavy = {"mlflow", "umap", "hdbscan", "cleanlab", "matplotlib", "sklearn"}
    assert loaded_modules("import toolkit", heavy) == set()


def test_importing_the_report_layer_loads_no_tracking_or_clustering():
    watch = {"mlflow", "umap", "hdbscan", "cleanlab"}
    assert loaded_modules("import toolkit.report", watch) == set()
