"""An action mask that leaves a branch without any allowed choice is an environment mistake,
whatever the environment: an in-process one (here a ``file.py`` environment) stops the run with
one paragraph naming the behavior, branch and agent, after saving, like a gRPC simulator does
(``test_simulator_contract_gaps.py``). Without the check the policy would sample a forbidden
choice and train on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlx_core.env.base import closed_mask_branch
from tests.conftest import run_mlx
from tests.e2e.stop_fixtures import checkpoint_steps, last_line, write

CLOSING_ENV = '''
import numpy as np
from mlx_core.env.builtin.masked import MaskedGrid


class ClosingGrid(MaskedGrid):
    """MaskedGrid whose mask forbids every move of agent 2 once ``close_after`` steps were made."""

    def __init__(self, close_after: int = 100, num_envs: int = 4) -> None:
        super().__init__(num_envs)
        self.close_after, self.steps = close_after, 0

    def step(self, actions):
        self.steps += 1
        return super().step(actions)

    def _mask(self):
        mask = super()._mask()
        if self.steps >= self.close_after:
            mask[2] = False
        return mask
'''

CONFIG = """
behaviors:
  MaskedGrid:
    trainer: ppo
    hyperparameters: {batch_size: 64, buffer_size: 256, num_epoch: 2}
    network_settings: {hidden_units: 16, num_layers: 1}
    max_steps: 4000
    summary_freq: 400
env_settings: {env: closing.py:ClosingGrid, seed: 1, env_args: [close_after=120]}
torch_settings: {device: cpu}
"""


@pytest.mark.slow
def test_an_in_process_environment_closing_a_branch_stops_the_run_after_saving(tmp_path: Path) -> None:
    write(tmp_path, "closing.py", CLOSING_ENV)
    write(tmp_path, "c.yaml", CONFIG)
    proc = run_mlx("run", "c.yaml", "--run-id", "closed", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, proc.stderr[-3000:]
    assert (
        "The environment 'closing.py:ClosingGrid' sent behavior MaskedGrid an action mask that forbids every "
        "choice of branch 0 for agent id 2" in errors[0]
    ), errors
    assert "Continue with --resume." in last_line(proc.stderr)
    assert checkpoint_steps(tmp_path / "results/closed/MaskedGrid")  # progress saved before stopping


def test_closed_mask_branch_finds_the_first_row_and_branch_without_a_choice() -> None:
    branches = (2, 3)
    mask = np.ones((3, 5), bool)
    assert closed_mask_branch(mask, branches) is None
    mask[1, 2:] = False  # row 1, branch 1 closed
    mask[2, :2] = False  # row 2, branch 0 closed
    assert closed_mask_branch(mask, branches) == (1, 1)
    mask[1, 4] = True
    assert closed_mask_branch(mask, branches) == (2, 0)
    assert closed_mask_branch(np.zeros((0, 5), bool), branches) is None
    assert closed_mask_branch(np.array([[1, 0, 0, 0, 1]], np.int8), branches) is None  # 0/1 masks too
