"""PPO that fails halfway through a chosen update, or takes its time over each update."""

from __future__ import annotations

import time
from typing import Any

import torch

from mlx_ppo.trainer import PPOTrainer


class FaultyTrainer(PPOTrainer):
    """After each completed update, writes ``after-update-<n>.pt`` (step and network weights)
    in the behavior's folder, so a test can compare them with what mlx saved."""

    def update(self) -> None:
        """PPO's update, then: a half-applied failure, or a slow finish, as the settings ask."""
        settings = self.hyperparameters
        folder = self.context.artifact_dir
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "in-update").write_text(str(self.step))
        super().update()
        if self.update_count == settings.fail_on_update:  # PPO counted this update already
            with torch.no_grad():
                for parameter in self.network.parameters():
                    parameter.add_(100.0)  # the half-changed state that must not be saved
            raise RuntimeError(f"faulty trainer failed on purpose in update {self.update_count}")
        time.sleep(settings.update_seconds)
        torch.save(
            {"step": self.step, "network": self.network.state_dict()}, folder / f"after-update-{self.update_count}.pt"
        )

    def state_dict(self) -> dict[str, Any]:
        """PPO's state, plus a value no checkpoint can hold once ``unsaveable_from_update`` is reached."""
        state = super().state_dict()
        limit = self.hyperparameters.unsaveable_from_update
        if limit and self.update_count >= limit:
            state["unsaveable"] = lambda: None  # torch.save cannot pickle a lambda
        return state
