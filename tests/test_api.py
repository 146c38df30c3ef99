"""The public surface: __all__ matches the documented contract; names resolve lazily."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import loaded_modules

import toolkit

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_public_name_resolves_and_has_a_docstring():
    for name in toolkit.__all__:
        value = getattr(toolkit, name)
        if name.startswith("__"):
            continue
        assert value.__doc__, f"{name} has no docstring"


def test_public_names_are_the_documented_ones():
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Public names") :]
    section = section[: section.index("\n## ", 3)] if "\n## " in section[3:] else section
    documented = set(re.findall(r"`tk\.([A-Za-z_]+)`", section))
    public = {n for n in toolkit.__all__ if not n.startswith("__")}
    assert documented == public, (sorted(public - documented), sorted(documented - public))


def test_readme_tour_only_uses_public_names():
    used = set(re.findall(r"\btk\.([A-Za-z_]+)", README.read_text(encoding="utf-8")))
    assert used <= set(toolkit.__all__), sorted(used - set(toolkit.__all__))


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        toolkit.nope  # noqa: B018


def test_toolkit_help_is_fast_and_loads_no_heavy_dependency():
    code = "from toolkit.cli import build_parser\nbuild_parser().format_help()"
    heavy = {"mlflow", "umap", "hdbscan", "cleanlab", "matplotlib", "sklearn", "pandas"}
    assert loaded_modules(code, heavy) == set()
