"""Same seed, same figures: compare two ``imagegate bench --json`` documents.

On virtual time a run's figures depend only on its seed, its configuration and the
versions it ran (see `imagegate.bench._virtual`); only the wall times (``wall_s``, and
the ``machine`` block, which says where and when it ran) vary. `figures` drops those,
and `differences` lists every other value that is not the same in both documents,
by its path in the JSON::

    imagegate bench --seed 7 --json A.json
    imagegate bench --seed 7 --json B.json --same-as A.json    # exit 1 if they differ

One contender is left out: LiteLLM (`UNSEEDED`). Its Router shuffles deployments in
native code that takes no seed, and keeps its cooldowns in a native store on the wall
clock; no public option of LiteLLM's puts either on the run's seed or clock, so its
figures vary from run to run (within the spread ``--seeds`` shows). The other contenders'
figures do not depend on it: they are the same whether LiteLLM ran before them or not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

__all__ = ["UNSEEDED", "WALL_KEYS", "differences", "figures", "load_figures", "report_same"]

WALL_KEYS: Final = frozenset({"wall_s", "machine", "overhead", "throughput", "memory"})
"""Keys whose values are measured on the wall clock (or describe the machine): the contest
runs on virtual time, but the overhead, throughput and memory measurements do not."""

UNSEEDED: Final = frozenset({"litellm"})
"""Contenders whose figures a seed does not fix (see the module docstring): their rows, and
the targets that compare against them, are not compared."""

_SHOWN: Final = 20
"""At most this many differences are listed."""


def figures(document: Any) -> Any:
    """``document`` without the values in `WALL_KEYS` and those of the `UNSEEDED`
    contenders, at any depth."""
    if isinstance(document, dict):
        return {
            k: figures(v)
            for k, v in document.items()
            if k not in WALL_KEYS
            and k not in UNSEEDED
            and not _names_unseeded(k)
            and not _about_unseeded(v)
        }
    if isinstance(document, list):
        return [figures(v) for v in document if not _about_unseeded(v)]
    return document


def _about_unseeded(value: Any) -> bool:
    """A target that compares against an `UNSEEDED` contender (``"beats litellm on …"``)."""
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return False
    return _names_unseeded(value["name"])


def _names_unseeded(text: str) -> bool:
    """Whether a target's name (or a key named after one, as the verdicts across seeds
    are) compares against an `UNSEEDED` contender."""
    return any(f" {name} " in f" {text} " for name in UNSEEDED)


def load_figures(path: str | Path) -> Any:
    """The figures of the JSON document at ``path``."""
    return figures(_load(path))


def _load(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def differences(a: Any, b: Any, path: str = "$") -> list[str]:
    """Every place where ``a`` and ``b`` differ, as ``"path: a != b"`` (at most `_SHOWN`)."""
    found: list[str] = []
    _walk(a, b, path, found)
    return found[:_SHOWN]


def _walk(a: Any, b: Any, path: str, found: list[str]) -> None:
    if len(found) >= _SHOWN:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                found.append(f"{path}.{key}: only in {'the first' if key in a else 'the second'}")
            else:
                _walk(a[key], b[key], f"{path}.{key}", found)
        return
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            _walk(x, y, f"{path}[{index}]", found)
        return
    if a != b:
        found.append(f"{path}: {_short(a)} != {_short(b)}")


def _contenders(document: Any) -> set[str]:
    config = document.get("config") if isinstance(document, dict) else None
    names = config.get("contenders") if isinstance(config, dict) else None
    return {n for n in names if isinstance(n, str)} if isinstance(names, list) else set()


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def report_same(earlier: str | Path, later: str | Path) -> int:
    """Print whether ``later``'s figures are ``earlier``'s; 0 if they are, else 1."""
    document = _load(later)
    found = differences(load_figures(earlier), figures(document))
    left_out = ", ".join(sorted(UNSEEDED & _contenders(document)))
    aside = "wall times" + (f" and {left_out} (no seed fixes its figures)" if left_out else "")
    if not found:
        print(f"same figures as {earlier} ({aside} aside)")
        return 0
    print(f"figures differ from {earlier}:")
    for line in found:
        print(f"  {line}")
    return 1
