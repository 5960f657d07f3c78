"""Loading a gateway configuration: every mistake named by its key; keys made by the CLI."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from imagegate.errors import ConfigurationError
from imagegate.gateway import KeyRing, hash_key, load_config

ROUTER = """
[[routes]]
provider = "gemini"
model = "gemini-3-pro-image"

[[routes]]
provider = "openai"
model = "gpt-image-2.6-sunburst"
backup = true
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(ROUTER + text, encoding="utf-8")
    return path


def test_a_valid_file_loads(tmp_path: Path) -> None:
    """Groups, clients and limits are read from the [gateway] table."""
    digest = "a" * 64
    path = _write(
        tmp_path,
        f"""
[gateway]
max_body_bytes = 1048576
grace_s = 5

[gateway.models]
"nano-banana-pro" = ["gemini/gemini-3-pro-image", "openai/gpt-image-2.6-sunburst"]

[gateway.clients]
alice = {{ key_sha256 = "{digest}", rpm = 60, budget_usd = 20.0 }}
""",
    )
    config = load_config(path)
    assert config.gateway.models["nano-banana-pro"][1] == "openai/gpt-image-2.6-sunburst"
    assert config.gateway.clients["alice"].rpm == 60
    assert config.gateway.grace_s == 5
    assert len(config.router.routes) == 2


def test_every_mistake_is_named_by_its_key(tmp_path: Path) -> None:
    """A misspelt key, a bad hash and a route that does not exist are each reported."""
    path = _write(
        tmp_path,
        """
[gateway]
grace = 5
models = { "nano" = ["gemini/gemini-3-pro-image"] }
clients = { bob = { key_sha256 = "not-a-hash", rpm = 0 } }
""",
    )
    with pytest.raises(ConfigurationError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: 3 problems:")
    assert "gateway.grace is not a known key; did you mean `grace_s`?" in message
    assert "gateway.clients.bob.key_sha256" in message
    assert "gateway.clients.bob.rpm" in message
    assert "not-a-hash" not in message


def test_a_group_naming_an_unknown_route_is_refused(tmp_path: Path) -> None:
    """Route names are checked against the router's, with the closest one suggested."""
    path = _write(
        tmp_path,
        """
[gateway.models]
"nano" = ["gemini/gemini-3-pro-imag"]
""",
    )
    with pytest.raises(ConfigurationError, match=re.escape("gateway.models.nano[0] names no")):
        load_config(path)
    with pytest.raises(ConfigurationError, match="did you mean `gemini/gemini-3-pro-image`"):
        load_config(path)


def test_the_gateway_table_is_required(tmp_path: Path) -> None:
    """A plain router file is not a gateway configuration."""
    with pytest.raises(ConfigurationError, match="gateway is required"):
        load_config(_write(tmp_path, ""))


def test_router_mistakes_are_reported_as_the_router_does(tmp_path: Path) -> None:
    """The router part goes through the router's own checks."""
    path = tmp_path / "g.toml"
    path.write_text('preset = "balance"\n[gateway.models]\nx = ["a/b"]\n', encoding="utf-8")
    with pytest.raises(ConfigurationError, match="did you mean `balanced`"):
        load_config(path)


def test_keys_add_prints_a_key_and_its_hash() -> None:
    """`imagegate serve keys add NAME` prints a fresh key once and the line to paste."""
    result = subprocess.run(
        [sys.executable, "-m", "imagegate.cli", "serve", "keys", "add", "alice"],
        capture_output=True,
        text=True,
        check=True,
    )
    key = re.search(r"(igw-[A-Za-z0-9_-]{43})", result.stdout)
    assert key is not None
    digest = hashlib.sha256(key[1].encode()).hexdigest()
    assert f'alice = {{ key_sha256 = "{digest}" }}' in result.stdout
    assert KeyRing({"alice": digest}).client(f"Bearer {key[1]}") == "alice"


def test_key_ring_matches_only_bearer_tokens() -> None:
    """Only `Bearer <key>` of a configured client matches."""
    ring = KeyRing({"a": hash_key("k1"), "b": hash_key("k2")})
    assert ring.client("Bearer k2") == "b"
    assert ring.client("bearer k1") == "a"
    assert ring.client("Basic k1") is None
    assert ring.client("Bearer k3") is None
    assert ring.client(None) is None
    assert "k1" not in repr(ring)
