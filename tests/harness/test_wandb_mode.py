"""W&B's automatic mode: online only with an API key and a server that answers; never an online init without."""

from __future__ import annotations

import socket
import sys
import types

import pytest

from occplan.harness.wandb_logger import WandbLogger


class FakeRun:
    def __init__(self, root) -> None:
        self.dir = str(root / "run" / "files")


@pytest.fixture
def inits(monkeypatch, tmp_path):
    """Records the keyword arguments of every ``wandb.init``; nothing reaches W&B or the network."""
    calls: list[dict] = []

    def init(**kw):
        calls.append(kw)
        return FakeRun(tmp_path)

    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=init))
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc key
    for var in ("WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_MODE"):
        monkeypatch.delenv(var, raising=False)
    return calls


@pytest.fixture
def connects(monkeypatch):
    """Every TCP connection attempt, refused as on a machine without network."""
    tried: list[tuple[str, int]] = []

    def refuse(address, timeout=None, *args, **kw):
        tried.append(address)
        raise OSError("Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", refuse)
    return tried


def _logger(tmp_path, mode=None) -> WandbLogger:
    return WandbLogger(True, "occplan", mode, {"model": "oracle"}, tmp_path / "wandb")


def test_api_key_without_network_logs_offline(inits, connects, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WANDB_API_KEY", "0" * 40)
    logger = _logger(tmp_path)
    assert [kw["mode"] for kw in inits] == ["offline"]  # no online init was attempted
    assert connects == [("api.wandb.ai", 443)]
    assert logger.run is not None
    assert "api.wandb.ai:443 not reachable" in capsys.readouterr().err


def test_probe_follows_the_base_url(inits, connects, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "0" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "http://wandb.example.org:8080")
    _logger(tmp_path)
    assert connects == [("wandb.example.org", 8080)] and inits[0]["mode"] == "offline"


def test_api_key_with_reachable_server_logs_online(inits, tmp_path, monkeypatch):
    class Conn:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(socket, "create_connection", lambda address, timeout=None: Conn())
    monkeypatch.setenv("WANDB_API_KEY", "0" * 40)
    _logger(tmp_path)
    assert inits[0]["mode"] == "online"


def test_no_key_is_offline_without_probe(inits, connects, tmp_path):
    _logger(tmp_path)
    assert inits[0]["mode"] == "offline" and connects == []


@pytest.mark.parametrize("mode", ["online", "offline"])
def test_explicit_mode_is_used_without_probe(inits, connects, tmp_path, monkeypatch, mode):
    monkeypatch.setenv("WANDB_API_KEY", "0" * 40)
    _logger(tmp_path, mode)
    assert inits[0]["mode"] == mode and connects == []


def test_disabled_never_imports_wandb(inits, connects, tmp_path):
    assert _logger(tmp_path, "disabled").run is None and inits == [] and connects == []
