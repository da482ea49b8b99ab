"""The package's public face: exports, version and type information."""

from __future__ import annotations

from importlib import metadata, resources
from types import ModuleType

import voicenter_async


def _casing_order(name: str) -> tuple[int, str]:
    if name.isupper():
        return 0, name
    if name[0].isupper():
        return 1, name

    return 2, name


def test_all_is_sorted():
    """__all__ is sorted constants first, then classes, then the rest."""
    assert sorted(voicenter_async.__all__, key=_casing_order) == (
        voicenter_async.__all__
    )


def test_all_matches_namespace():
    """Every public name but subpackages is in __all__, and nothing more."""
    public = {
        name
        for name, value in vars(voicenter_async).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }

    assert set(voicenter_async.__all__) - {"__version__"} == public


def test_version_matches_metadata():
    """__version__ is the installed distribution's version."""
    assert metadata.version("voicenter-async") == voicenter_async.__version__


def test_ships_py_typed():
    """The package ships py.typed, so type checkers read its annotations."""
    assert resources.files("voicenter_async").joinpath("py.typed").is_file()
