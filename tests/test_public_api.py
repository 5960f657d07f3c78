"""The public surface: __all__ sorted and complete, docstrings everywhere."""

from __future__ import annotations
import __future__

import importlib
import inspect
import pkgutil
import types

import pytest

import imagegate

PUBLIC_MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(imagegate.__path__, "imagegate.")
    if not any(part.startswith("_") for part in m.name.split(".")) and "simulator" not in m.name
)


def test_all_is_sorted() -> None:
    """imagegate.__all__ is sorted (ruff's isort-style order: constants, classes, functions)."""
    names = list(imagegate.__all__)
    assert names == sorted(names, key=lambda n: (not n.isupper(), not n[:1].isupper(), n))


def test_all_is_complete() -> None:
    """Every public name in the package namespace is exported, and every export exists."""
    public = {
        name
        for name, value in vars(imagegate).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType | __future__._Feature)
    }
    public |= {"errors", "providers", "__version__"}
    assert set(imagegate.__all__) == public
    for name in imagegate.__all__:
        assert hasattr(imagegate, name), name


def test_core_names_exist() -> None:
    """The core names the docs build on are reachable."""
    from imagegate.testing import FakeProvider

    for obj in (imagegate.Router, imagegate.Route, imagegate.errors.Overloaded, FakeProvider):
        assert callable(obj)
    assert imagegate.errors.AllRoutesFailed.__mro__[1] is imagegate.ImageGateError
    assert imagegate.providers.registry.get("fake").name == "fake"


@pytest.mark.parametrize("module_name", ["imagegate", *PUBLIC_MODULES])
def test_every_public_name_has_a_docstring(module_name: str) -> None:
    """Classes, functions and their public methods all carry docstrings."""
    module = importlib.import_module(module_name)
    exported = getattr(module, "__all__", [])
    missing = []
    for name in exported:
        obj = getattr(module, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        if not inspect.getdoc(obj):
            missing.append(name)
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if attr.startswith("_") or not callable(member):
                    continue
                if not inspect.getdoc(member):
                    missing.append(f"{name}.{attr}")
    assert not missing, f"{module_name}: no docstring on {missing}"
