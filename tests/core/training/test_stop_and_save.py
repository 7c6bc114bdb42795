"""Stop requests and the saving every stop relies on: signal handlers for a run's length, a
stop forgotten by the next run, snapshots no later change reaches, a failed save that leaves
the previous checkpoint as it was."""

from __future__ import annotations

import collections
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from mlx_core import stopping
from mlx_core.config.loader import load_run_options
from mlx_core.plugins.manager import get_plugins
from mlx_core.training.checkpoints import detached_copy, list_checkpoints, load_checkpoint, save_checkpoint
from mlx_core.training.controller import TrainerController


@pytest.fixture(autouse=True)
def no_stop_left_behind():
    stopping.clear()
    yield
    stopping.clear()


def test_first_signal_requests_a_stop_that_waits_see(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGTERM)
    with stopping.handle_signals():
        os.kill(os.getpid(), signal.SIGTERM)
        deadline = time.monotonic() + 5
        while stopping.stop_reason() is None and time.monotonic() < deadline:
            time.sleep(0.01)  # the handler runs in the main thread between bytecodes
        assert stopping.stop_reason() == "SIGTERM"
        began = time.monotonic()
        with pytest.raises(stopping.StopRequested, match="SIGTERM"):
            stopping.sleep(60)
        assert time.monotonic() - began < 1
    assert signal.getsignal(signal.SIGTERM) is before  # put back after the run


def test_stop_requested_from_another_thread_ends_a_sleep_at_once() -> None:
    threading.Timer(0.2, stopping.request_stop, args=("SIGINT",)).start()
    began = time.monotonic()
    with pytest.raises(stopping.StopRequested):
        stopping.sleep(30)
    assert 0.15 < time.monotonic() - began < 2


def test_only_the_outermost_handle_signals_forgets_an_earlier_stop() -> None:
    stopping.request_stop("SIGTERM")
    with stopping.handle_signals():
        assert stopping.stop_reason() is None  # a new run starts with no stop request
        stopping.request_stop("SIGINT")
        with stopping.handle_signals():  # the controller inside the CLI's run
            assert stopping.stop_reason() == "SIGINT"


def test_a_stop_left_from_an_earlier_run_is_forgotten_by_the_next(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "behaviors:\n  Goal1DDiscrete:\n    trainer: ppo\n    max_steps: 400\n"
        "    hyperparameters: {batch_size: 64, buffer_size: 128}\n"
        "env_settings: {env: Goal1DDiscrete, num_envs: 8, seed: 1}\ntorch_settings: {device: cpu}\n"
    )
    plugins = get_plugins()
    options = load_run_options(config, {"checkpoint_settings": {"results_dir": str(tmp_path / "results")}}, plugins)
    stopping.request_stop("SIGTERM")  # left over from an earlier run in this process
    controller = TrainerController(options, tmp_path / "results" / "first", plugins)
    assert controller.run() == {"Goal1DDiscrete": 400}
    assert controller.stopped_by is None
    assert [p.name for p in list_checkpoints(tmp_path / "results/first/Goal1DDiscrete")] == ["checkpoint-400.pt"]


def test_detached_copy_is_out_of_reach_of_later_in_place_changes() -> None:
    Moments = collections.namedtuple("Moments", "mean var")
    weights = torch.ones(3, requires_grad=True)
    state = {
        "network": {"w": weights.detach()},  # a state dict's tensors share storage with the parameters
        "optimizer": {"state": [torch.zeros(2)], "lr": 0.1},
        "normalizer": Moments(np.zeros(2), 5),
        "step": 10,
    }
    copy = detached_copy(state)
    with torch.no_grad():
        weights.add_(100)
    state["optimizer"]["state"][0].add_(1)
    state["normalizer"].mean[:] = 7
    assert torch.equal(copy["network"]["w"], torch.ones(3))
    assert torch.equal(copy["optimizer"]["state"][0], torch.zeros(2))
    assert isinstance(copy["normalizer"], Moments) and (copy["normalizer"].mean == 0).all()
    assert copy["step"] == 10 and copy["optimizer"]["lr"] == 0.1


def test_a_save_that_fails_midway_leaves_the_previous_checkpoint_and_no_debris(tmp_path: Path) -> None:
    good = {"step": 100, "state": {"w": torch.arange(4.0)}}
    save_checkpoint(good, tmp_path, 100, keep=1)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    broken = {"step": 200, "state": {"w": torch.zeros(1000), "bad": lambda: None}}  # pickling fails after the tensor
    with pytest.raises(Exception, match="pickle|lambda"):
        save_checkpoint(broken, tmp_path, 200, keep=1)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no .tmp, nothing rotated away
    assert torch.equal(load_checkpoint(tmp_path / "checkpoint-100.pt")["state"]["w"], torch.arange(4.0))
