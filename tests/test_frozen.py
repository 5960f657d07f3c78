"""`slot_init`: a frozen slots dataclass's ``__init__`` through its slots' descriptors,
the same to its callers as the generated one."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from dataclasses import InitVar, dataclass, field

import pytest

from imagegate import Attempt, ImageResult
from imagegate._frozen import slot_init
from imagegate._provider import ProviderRequest, ProviderResponse
from imagegate.resilience._breaker_ops import BreakerPermit, BreakerRecord
from imagegate.resilience._ledger_ops import LedgerState


def _sample(name: str) -> type:
    """A frozen slots dataclass with every kind of field ``slot_init`` takes, named
    ``name`` (built afresh each time: ``slot_init`` changes the class it is given)."""

    @dataclass(frozen=True, slots=True)
    class Sample:
        a: int
        b: str = "b"
        c: list[int] = field(default_factory=list)
        d: float = field(default=1.5, kw_only=True)
        e: tuple[int, ...] = field(default=(), kw_only=True)

        def __post_init__(self) -> None:
            if self.a < 0:
                raise ValueError("a must not be negative")

    Sample.__name__ = Sample.__qualname__ = name  # pickled by that module-level name
    return Sample


_Plain = _sample("_Plain")
_Quick = slot_init(_sample("_Quick"))


def _described(cls: type) -> list[tuple[str, object, object, object]]:
    return [
        (p.name, p.kind, repr(p.default), p.annotation)
        for p in inspect.signature(cls).parameters.values()
    ]


def test_the_signature_is_the_generated_ones() -> None:
    """Names, kinds (keyword-only included), defaults and annotations are unchanged."""
    assert _described(_Quick) == _described(_Plain)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((1,), {}), ((1, "x", [2]), {"d": 2.5, "e": (3,)}), ((), {"a": 4, "c": [5]})],
)
def test_instances_are_built_alike(args: tuple[object, ...], kwargs: dict[str, object]) -> None:
    """Every way of calling gives the fields the generated ``__init__`` gives them."""
    quick, plain = _Quick(*args, **kwargs), _Plain(*args, **kwargs)  # type: ignore[arg-type]
    assert dataclasses.asdict(quick) == dataclasses.asdict(plain)


def test_a_default_factory_is_called_for_each_instance() -> None:
    """Two instances never share the factory's value."""
    first, second = _Quick(1), _Quick(2)
    assert first.c == []
    assert first.c is not second.c


def test_the_instance_stays_frozen_and_comparable() -> None:
    """Assignment is refused as before; equality, replace and pickling hold."""
    quick = _Quick(1, e=(1, 2))
    with pytest.raises(dataclasses.FrozenInstanceError):
        quick.a = 2  # type: ignore[misc]
    assert quick == _Quick(1, e=(1, 2))
    assert dataclasses.replace(quick, a=3).a == 3
    assert pickle.loads(pickle.dumps(quick)) == quick
    with pytest.raises(TypeError):
        _Quick(1, "b", [], 2.0)  # type: ignore[misc]  # d is keyword-only


def test_post_init_still_runs() -> None:
    """``__post_init__`` checks the fields as it did."""
    with pytest.raises(ValueError, match="negative"):
        _Quick(-1)


def test_only_frozen_slots_dataclasses_are_taken() -> None:
    """A class without slots, a mutable one, or one with an InitVar is refused."""

    @dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclass(slots=True)
    class Mutable:
        a: int

    @dataclass(frozen=True, slots=True)
    class WithInitVar:
        a: int
        b: InitVar[int] = 0

    for cls in (NoSlots, Mutable, WithInitVar):
        with pytest.raises(TypeError):
            slot_init(cls)


@pytest.mark.parametrize(
    "cls",
    [
        Attempt,
        ImageResult,
        ProviderRequest,
        ProviderResponse,
        BreakerRecord,
        BreakerPermit,
        LedgerState,
    ],
)
def test_the_records_each_request_builds_take_it(cls: type) -> None:
    """The records built on every request have the faster ``__init__`` (it writes
    through the slots' descriptors), with a signature that names every field."""
    init = cls.__init__
    assert any(name.startswith("_set_") for name in init.__code__.co_names)
    fields = {f.name for f in dataclasses.fields(cls)}
    assert set(inspect.signature(cls).parameters) == fields
