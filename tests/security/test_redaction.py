"""The redactor masks every key-shaped secret and leaves ordinary words alone, in text
from an upstream and in the errors built from it."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagegate import Route, Router
from imagegate._redact import _MAYBE, REDACTED, _masked, redact
from imagegate.errors import AllRoutesFailed, AuthenticationError, ImageGateError

from ._leaky import hostile_server, unauthorized

OPENAI_MESSAGE = (
    "Incorrect API key provided: sk-proj-****abcd. You can find your API key at "
    "https://platform.openai.com/account/api-keys."
)

_KEY_CHARS = string.ascii_letters + string.digits + "_-"
_TOKEN_CHARS = string.ascii_letters + string.digits + "._~+/=-"

# A credential is random: a digit or a symbol inside it, or 20 letters and more.
_tokens = st.one_of(
    st.tuples(
        st.text(_TOKEN_CHARS, min_size=4, max_size=30),
        st.sampled_from(string.digits + "._-~+/="),
        st.text(_TOKEN_CHARS, min_size=3, max_size=30),
    ).map("".join),
    st.text(string.ascii_letters, min_size=20, max_size=60),
)
_HEADER_LABELS = st.sampled_from(["x-goog-api-key: ", "x-key: ", "api_key=", "'api-key': '"])
_secrets = st.one_of(  # (label, secret value)
    st.tuples(st.just(""), st.text(_KEY_CHARS, min_size=35, max_size=40).map("AIza".__add__)),
    st.tuples(
        st.just(""),
        st.builds(
            "sk-{}{}".format,
            st.sampled_from(["", "proj-", "or-v1-"]),
            st.text(_KEY_CHARS, min_size=20),
        ),
    ),
    st.tuples(st.sampled_from(["Bearer ", "bearer  "]), _tokens),
    st.tuples(st.sampled_from(["?key=", "&api_key=", "?token="]), _tokens),
    st.tuples(
        st.sampled_from(["x-goog-api-key: ", "x-key: ", "api_key=", "'api-key': '"]), _tokens
    ),
)
_TRICKY = [
    "Incorrect", "API", "key", "keys", "provided", "Bearer", "bearer", "token", "apikey",
    "authorization", "Authorization", "sk", "secret", "AIza", "invalid", "expired",
]  # fmt: skip
"""Words near which keys appear; identifiers (``invalid_api_key``) are tested on their own."""
_words = st.one_of(st.text(string.ascii_letters, min_size=1, max_size=15), st.sampled_from(_TRICKY))
_separators = st.sampled_from([" ", ": ", ", ", ". ", " '", "' ", "\n", ": '", "! "])


@st.composite
def _prose(draw: st.DrawFn) -> str:
    words = draw(st.lists(_words, max_size=12))
    return "".join(word + draw(_separators) for word in words)


@given(before=_prose(), secret=_secrets, after=_prose(), gap=st.sampled_from([" ", ". ", "\n"]))
def test_key_shaped_secrets_are_masked(
    before: str, secret: tuple[str, str], after: str, gap: str
) -> None:
    """A key, bearer token, key parameter or key header value never survives, whatever
    text surrounds it."""
    label, value = secret
    masked = redact(before + label + value + gap + after)
    assert REDACTED in masked
    assert value not in masked


_FRAGMENTS = st.sampled_from(
    ["sk-", "SK-", "AIza", "aiza", "?key=", "&Token=", "x-goog-api-key", "X-Key", "api_key",
     "API-KEY", "authorization", "Bearer ", ": ", "=", "'", "***", "...", "…", " ", "\n"]
)  # fmt: skip


@settings(max_examples=400)
@given(
    pieces=st.lists(
        st.one_of(
            st.tuples(_FRAGMENTS, st.text(_TOKEN_CHARS, min_size=8, max_size=25)).map("".join),
            _FRAGMENTS,
            _words,
            _separators,
        ),
        max_size=12,
    )
)
def test_the_quick_look_misses_nothing_a_pattern_masks(pieces: list[str]) -> None:
    """`redact` skips the patterns when its one quick search finds none of what they
    need; whenever it skips them, they would have changed nothing."""
    text = "".join(pieces)
    if _MAYBE.search(text) is None:
        assert _masked(text) == text
    assert redact(text) == _masked(redact(text))


@given(text=_prose())
def test_ordinary_words_survive(text: str) -> None:
    """Text made of plain words, key-related ones included, comes out unchanged."""
    assert redact(text) == text


OPENAI_MESSAGE_REDACTED = (
    "Incorrect API key provided: [REDACTED]. You can find your API key at "
    "https://platform.openai.com/account/api-keys."
)


def test_openai_wrong_key_message_keeps_its_words() -> None:
    """OpenAI's wrong-key message loses no word; only the partial key it echoes (which
    still shows characters of the real key) is masked."""
    assert redact(f"invalid_api_key: {OPENAI_MESSAGE}") == (
        f"invalid_api_key: {OPENAI_MESSAGE_REDACTED}"
    )
    for text in (
        "api_key=missing",
        "Authorization: Bearer expired",
        "x-key: required.",
        "invalid_api_key: Incorrect",
    ):
        assert redact(text) == text


async def test_an_upstream_wrong_key_answer_reads_in_full() -> None:
    """The error for a 401 from an upstream keeps the upstream's words."""
    async with hostile_server(unauthorized) as base_url:
        route = Route("openai", model="gpt-image-1.5", base_url=base_url, api_key="sk-abc123")
        async with Router([route], retry=None, hedge=None) as router:
            try:
                await router.generate("a lighthouse")
            except ImageGateError as exc:
                error = exc
    errors = error.errors if isinstance(error, AllRoutesFailed) else (error,)
    assert isinstance(errors[0], AuthenticationError)
    assert "invalid_api_key: Incorrect API key provided: [REDACTED]. You can find" in str(errors[0])


@pytest.mark.parametrize(
    "partial",
    [
        # OpenAI's own masking in its 401 text (chatanywhere/GPT_API_free issue #81,
        # dKosarevsky/AI-Talks issue #32, cocacola-lab/ChatIE issue #11)
        "sk-zhj0s***************************************CMuq",
        "sk-WRQsP***************************************xQBt",
        "sk-5ZHQn*****************************************************************pYxy",
        "sk-proj-****abcd",
        "sk-abc***xyz",
        "sk-abc...xyz",
    ],
)
def test_partial_keys_are_masked_and_the_sentence_kept(partial: str) -> None:
    """A partial key is masked; the words before and after it read unchanged."""
    text = f"Incorrect API key provided: {partial}. You can find your API key at x."
    assert redact(text) == "Incorrect API key provided: [REDACTED]. You can find your API key at x."
