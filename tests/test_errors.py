"""The error taxonomy: its shape matches the documented tree, and messages hide secrets."""

from __future__ import annotations

import pickle
import re

import pytest

import imagegate.errors as errors_module
from imagegate import Attempt, SkippedOption
from imagegate._redact import REDACTED, redact, register_secret
from imagegate.errors import (
    AllRoutesFailed,
    ConfigurationError,
    ContentBlocked,
    DeadlineExceeded,
    ImageGateError,
    NoImageReturned,
    Overloaded,
    ProviderError,
    QuotaExhausted,
    RateLimited,
)


def _documented_tree() -> dict[str, str]:
    """Parse 'child → parent' from the tree drawn in the module docstring."""
    doc = errors_module.__doc__ or ""
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in doc.splitlines():
        match = re.match(r"^(\s*(?:[│ ]\s*)*)(?:[├└]── )?([A-Z]\w+)", line)
        if not match or not line.strip() or match.group(2) not in dir(errors_module):
            continue
        depth = len(match.group(1)) + (4 if "──" in line else 0)
        name = match.group(2)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            parents[name] = stack[-1][1]
        stack.append((depth, name))
    return parents


def test_docstring_tree_matches_the_classes() -> None:
    """Every class in the drawn tree has exactly the parent the drawing shows."""
    tree = _documented_tree()
    assert len(tree) == 14
    for child, parent in tree.items():
        cls = getattr(errors_module, child)
        assert getattr(errors_module, parent) in cls.__bases__, child


def test_every_error_class_is_drawn() -> None:
    """No exception class is missing from the drawing."""
    drawn = set(_documented_tree()) | {"ImageGateError"}
    defined = {
        name
        for name, obj in vars(errors_module).items()
        if isinstance(obj, type) and issubclass(obj, ImageGateError)
    }
    assert defined == drawn


@pytest.mark.parametrize(
    ("cls", "retryable", "billing"),
    [
        (RateLimited, True, "not_billed"),
        (QuotaExhausted, False, "not_billed"),
        (Overloaded, True, "not_billed"),
        (DeadlineExceeded, True, "possibly_billed"),
        (NoImageReturned, True, "billed"),
        (ContentBlocked, False, "not_billed"),
    ],
)
def test_defaults(cls: type[ProviderError], retryable: bool, billing: str) -> None:
    """Each class has the retry and billing defaults the router relies on."""
    error = cls("x", route="gemini/m", size="4K", status=503)
    assert (error.retryable, error.billing) == (retryable, billing)
    assert str(error) == "[gemini/m/4K HTTP 503] x"


def test_attributes_and_overrides() -> None:
    """Explicit retryable/billing/retry_after_s win over the defaults."""
    error = RateLimited("slow down", retry_after_s=0.5, billing="possibly_billed")
    assert error.retry_after_s == 0.5
    assert error.billing == "possibly_billed"
    assert error.bind(route="r", size="1K").route == "r"
    assert "retry_after_s=0.5" in repr(error)


@pytest.mark.parametrize(
    "text",
    [
        "url https://x/v1/models/m:generateContent?key=AIzaSyD-abcdefghijklmnopqrstuvwxyz0123",
        "header Authorization: Bearer sk-proj-abcdefghijklmnop1234",
        "echo x-goog-api-key: my-own-private-value",
        "sk-abcdefghijklmnopqrstuv leaked",
    ],
)
def test_key_shaped_strings_never_reach_messages(text: str) -> None:
    """Keys in vendor text are masked in the message, str() and repr()."""
    error = Overloaded(text)
    for shown in (error.message, str(error), repr(error)):
        assert REDACTED in shown
        for secret in ("AIzaSyD-abc", "sk-proj-abc", "my-own-private-value", "sk-abcdefghij"):
            assert secret not in shown


def test_registered_secrets_are_masked_anywhere() -> None:
    """A registered key of any shape is masked wherever it appears."""
    register_secret("plain-looking-token-42")
    error = ConfigurationError("bad key plain-looking-token-42 for route")
    assert "plain-looking-token-42" not in str(error)
    assert redact("no secret here") == "no secret here"


def test_all_routes_failed_keeps_attempts() -> None:
    """AllRoutesFailed carries every attempt and their errors."""
    boom = Overloaded("busy")
    attempts = [
        Attempt("a/m", "4K", 0.0, 1.0, "error", boom),
        Attempt("b/m", "1K", 1, 2, "cancelled"),
    ]
    failure = AllRoutesFailed("all failed", attempts=attempts)
    assert failure.attempts == tuple(attempts)
    assert failure.errors == (boom,)


@pytest.mark.parametrize(
    "error",
    [
        errors_module.BudgetExceeded("cap crossed", spent_usd=1.25, limit_usd=1.0),
        QuotaExhausted("daily quota", scope="day", route="gemini/m", status=429),
        ContentBlocked("refused", stage="output", reason="SAFETY", route="openai/m"),
        ConfigurationError("no key", env_var="GEMINI_API_KEY"),
        errors_module.InvalidRequestError("bad size", field="size"),
        AllRoutesFailed(
            "all failed",
            attempts=[Attempt("a/m", "4K", 0.0, 1.0, "error", Overloaded("busy"))],
            skipped=["b/m@1K: breaker open"],
            skipped_options=[SkippedOption("b/m", "1K", "breaker_open")],
        ),
    ],
    ids=lambda error: type(error).__name__,
)
def test_errors_pickle_whole(error: ImageGateError) -> None:
    """Every error crosses a process boundary (multiprocessing, a task queue) with its
    class, message and attributes, required keyword arguments included."""
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert copy.args == error.args
    assert repr(vars(copy)) == repr(vars(error))
