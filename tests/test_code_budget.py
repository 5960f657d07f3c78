"""The size budget of the code (CONTRIBUTING.md): files stay small enough to hold in your
head. Function complexity is ruff's C901 gate (pyproject.toml)."""

from __future__ import annotations

from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "imagegate"
MAX_LINES = 450
EXEMPT = (SRC / "testing" / "simulator",)
"""The simulator models five providers' wire formats; it is test equipment, not the SDK."""


def test_no_module_is_over_the_line_budget() -> None:
    """Every module of the package (the simulator aside) has at most 450 lines."""
    over = {
        str(path.relative_to(SRC)): n
        for path in sorted(SRC.rglob("*.py"))
        if not any(path.is_relative_to(e) for e in EXEMPT)
        and (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert over == {}
