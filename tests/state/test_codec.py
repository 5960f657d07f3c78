"""A primitive of the test's own, shared through RedisState by the codec beside it: its
script, keys, replies and local fallback, with no change in the backend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pytest

from imagegate.state import MemoryState, RedisState
from imagegate.state.codec import (
    Codec,
    Encoder,
    RemoteCall,
    Script,
    codec_for_kind,
    encoder_for,
    register_codec,
    scripts,
)

from ._redis import free_port


@dataclass(frozen=True, slots=True)
class Tally:
    """The record: a count and when it last moved."""

    count: int
    last: float


@dataclass(frozen=True, slots=True)
class Add:
    """Operation: add ``n``; result: the new count."""

    n: int

    def apply(self, state: Tally | None, now: float) -> tuple[Tally, int]:
        """The reference the script ports."""
        count = (state.count if state is not None else 0) + self.n
        return Tally(count, now), count


_ADD = Script("tally_add", "tally_add", package=__package__ or "")


def _add(op: Add, ttl_s: float) -> RemoteCall:
    return RemoteCall(_ADD, (str(op.n),), _count)


def _count(items: Sequence[str]) -> int:
    return int(items[0])


class TallyCodec(Codec):
    """Tally under ``tally:{group}:{name}`` keys, hash-tagged on the group."""

    kind = "tally"
    scripts = (_ADD,)
    operations: Mapping[type[Any], Encoder] = {Add: _add}

    def record(self, fields: Mapping[str, str]) -> Tally | None:
        """The Tally the fields hold."""
        return Tally(int(fields["c"]), float(fields["l"])) if fields else None

    def shifted(self, record: object, offset_s: float) -> object:
        """``last`` on the caller's clock."""
        assert isinstance(record, Tally)
        return replace(record, last=record.last + offset_s)

    def hash_tag(self, rest: str) -> str:
        """``{group}:name``."""
        group, _, name = rest.partition(":")
        return f"{{{group}}}:{name}"


CODEC = TallyCodec()
register_codec(CODEC)


def test_a_registered_codec_is_found_by_operation_kind_and_script() -> None:
    """The registry answers for the operation (and subclasses), the kind and the script."""

    @dataclass(frozen=True, slots=True)
    class AddTwice(Add):
        pass

    assert encoder_for(Add(1)) == (CODEC, _add)
    assert encoder_for(AddTwice(1)) == (CODEC, _add)
    assert encoder_for(object()) is None
    assert codec_for_kind("tally") is CODEC
    assert scripts()["tally_add"] is _ADD
    register_codec(CODEC)  # the same codec again: nothing happens


def test_a_second_codec_for_a_kind_is_refused() -> None:
    """Two codecs cannot claim one kind (nor one operation or script name)."""
    with pytest.raises(ValueError, match="already registered"):
        register_codec(TallyCodec())


async def test_redis_runs_the_codec_of_a_new_primitive(shared: RedisState, prefix: str) -> None:
    """Its script runs in Redis under the codec's key, with the reference's answers."""
    reference = MemoryState()
    for n, now in ((1, 0.0), (2, 5.0), (4, 7.5)):
        op = Add(n)
        assert await shared.apply("tally:g:a", op, now=now) == await reference.apply(
            "tally:g:a", op, now=now
        )
        assert shared.peek("tally:g:a") == reference.peek("tally:g:a")
    assert shared.redis_key("tally:g:a") == f"{prefix}:tally:{{g}}:a"
    assert await shared._client.hgetall(shared.redis_key("tally:g:a")) == {"c": "7", "l": "7.5"}
    assert await shared.apply_many([("tally:g:b", Add(3)), ("tally:g:a", Add(1))], now=8.0) == [
        3,
        8,
    ]


async def test_without_redis_the_new_primitive_decides_locally() -> None:
    """Redis unreachable: its operations run on local state, as for the built-in ones."""
    async with RedisState(f"redis://127.0.0.1:{free_port()}/0") as state:
        assert await state.apply("tally:g:a", Add(2), now=1.0) == 2
        assert await state.apply("tally:g:a", Add(3), now=2.0) == 5
        assert state.degraded
        assert state.peek("tally:g:a") == Tally(5, 2.0)
