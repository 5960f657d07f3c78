"""The package as users get it: the sdist and the wheel built, the wheel installed with pip
into a fresh virtualenv, then imported and run from its own console script.

The install reaches the package index for the dependencies (pip's cache makes it quick).
When the repository has a ``constraints.txt`` the install uses it, as CI and the README's
commands do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "src" / "imagegate"
CONSTRAINTS = ROOT / "constraints.txt"


@dataclass(frozen=True)
class Dists:
    """The built distributions."""

    wheel: Path
    sdist: Path


def _run(argv: list[str | Path], *, cwd: Path, timeout_s: float) -> str:
    """Run a command with a clean environment; on failure show what it printed."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    done = subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    assert done.returncode == 0, (
        f"{argv} exited {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    )
    return done.stdout


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dists]:
    """The sdist and the wheel, built from the working tree into a temporary directory."""
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "hatchling", "build", "-d", out], cwd=ROOT, timeout_s=120)
    (wheel,) = out.glob("imagegate-*.whl")
    (sdist,) = out.glob("imagegate-*.tar.gz")
    yield Dists(wheel=wheel, sdist=sdist)
    shutil.rmtree(out)


@pytest.fixture
def venv(tmp_path: Path) -> Iterator[Path]:
    """A fresh virtualenv with pip and nothing else, removed afterwards."""
    path = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", path], cwd=tmp_path, timeout_s=120)
    yield path
    shutil.rmtree(path)


def _bin(venv: Path, name: str) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin") / name


def test_wheel_holds_the_package_with_py_typed_and_no_tests(dists: Dists) -> None:
    """The wheel has every file of src/imagegate, py.typed included, and no test files."""
    names = zipfile.ZipFile(dists.wheel).namelist()
    assert "imagegate/py.typed" in names
    shipped = {n for n in names if n.startswith("imagegate/")}
    source = {
        f"imagegate/{p.relative_to(PACKAGE).as_posix()}"
        for p in PACKAGE.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert shipped == source
    paths = [PurePosixPath(n) for n in names]
    assert not [p for p in paths if "tests" in p.parts]
    assert not [p for p in paths if p.name.startswith("test_") or p.name == "conftest.py"]


def test_sdist_holds_py_typed_and_what_the_tests_need(dists: Dists) -> None:
    """The sdist carries the package sources with py.typed next to them, and the tests run
    from it: the example plugin's source and the lock come along."""
    with tarfile.open(dists.sdist) as sdist:
        names = sdist.getnames()
    top = dists.sdist.name.removesuffix(".tar.gz")
    assert f"{top}/PKG-INFO" in names
    assert f"{top}/src/imagegate/py.typed" in names
    assert f"{top}/src/imagegate/__init__.py" in names
    assert f"{top}/examples/imagegate-plugin-example/src/imagegate_plugin_example/__init__.py" in (
        names
    )
    assert f"{top}/constraints.txt" in names


@pytest.mark.timeout(900)
def test_wheel_installs_and_runs_in_a_fresh_virtualenv(
    dists: Dists, venv: Path, tmp_path: Path
) -> None:
    """pip installs the wheel with the cli extra; it imports, lists providers, runs the demo."""
    constraints = ["-c", CONSTRAINTS] if CONSTRAINTS.is_file() else []
    python = _bin(venv, "python")
    _run(
        [python, "-m", "pip", "install", "--quiet", *constraints, f"{dists.wheel}[cli]"],
        cwd=tmp_path,
        timeout_s=600,
    )

    where = _run(
        [python, "-c", "import imagegate, pathlib; print(pathlib.Path(imagegate.__file__).parent)"],
        cwd=tmp_path,
        timeout_s=60,
    )
    installed = Path(where.strip())
    assert installed.is_relative_to(venv)
    assert (installed / "py.typed").is_file()

    providers = _run([_bin(venv, "imagegate"), "providers"], cwd=tmp_path, timeout_s=60)
    for name in ("gemini", "vertex", "openai", "openai_compatible", "flux", "fake"):
        assert name in providers

    demo = _run([_bin(venv, "imagegate"), "demo", "--requests", "20"], cwd=tmp_path, timeout_s=180)
    assert "imagegate delivered" in demo
