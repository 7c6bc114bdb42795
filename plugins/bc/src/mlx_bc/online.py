"""The ``online_bc`` trainer: the student learns from a teacher model while the behavior runs.

At every decision the teacher labels the agents' observations (one batched call), and the
labelled steps go into a first-in first-out store of ``buffer_size`` steps, optionally seeded
from ``demo_path``. Without ``dagger`` the teacher's actions are the ones the environment
receives; with ``dagger: true`` the student acts and the teacher only labels the states the
student visits (DAgger with the teacher never mixed in), so the student learns to recover from
its own mistakes. Updates follow the cadence of ``bc`` (see :mod:`mlx_bc.trainer`). Once the
behavior has finished, or in ``--inference``, the student acts alone and nothing is labelled.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from mlx_bc.cloning import DemoBatch
from mlx_bc.demonstrations import LabelledSteps, load_demo_batch
from mlx_bc.settings import OnlineBCSettings
from mlx_bc.trainer import CloningTrainer
from mlx_core.env.base import ActionTuple, BehaviorSpec, DecisionSteps
from mlx_core.policy_source import ActionSource, load_action_source
from mlx_core.training.policy import ActionInfo, Policy
from mlx_core.training.trainer import TrainerContext


class TeacherLabelledPolicy(Policy):
    """The student's policy, which also asks the teacher about every decision while labelling is on.

    ``labelling()`` says whether to label now; then the teacher's actions are stored and,
    unless ``dagger``, returned as the actions to take.
    """

    def __init__(
        self,
        spec: BehaviorSpec,
        network: torch.nn.Module,
        device: torch.device,
        teacher: ActionSource,
        labelled: LabelledSteps,
        dagger: bool,
        labelling: Callable[[], bool],
    ) -> None:
        super().__init__(spec, network, device)
        self.teacher = teacher
        self.labelled = labelled
        self.dagger = dagger
        self.labelling = labelling

    def act(self, steps: DecisionSteps) -> ActionInfo:
        """The student's actions (DAgger, or labelling off), else the teacher's; labels are kept."""
        if not self.labelling():
            return super().act(steps)
        taught = self.teacher.act(steps)
        self.labelled.add(steps.obs, taught, steps.action_mask)
        if self.dagger:
            return super().act(steps)
        continuous = np.asarray(taught.continuous, np.float32)
        clipped = np.clip(continuous, -1.0, 1.0) if continuous.size else continuous
        return ActionInfo(
            action=taught,
            env_action=ActionTuple(continuous=clipped, discrete=taught.discrete),
            log_probs=np.zeros(len(steps), np.float32),
            values=None,
        )


class OnlineBCTrainer(CloningTrainer):
    """Behavioral cloning of ``hyperparameters.teacher`` while the behavior runs."""

    def __init__(self, context: TrainerContext) -> None:
        super().__init__(context)
        settings: OnlineBCSettings = context.settings.hyperparameters
        where = f"behaviors.{context.behavior_name}.hyperparameters.teacher"
        teacher = load_action_source(
            settings.teacher, context.spec, context.behavior_name, seed=max(context.seed, 0), where=where
        )
        self.labelled = LabelledSteps(context.spec, settings.buffer_size)
        if settings.demo_path is not None:
            key = f"behaviors.{context.behavior_name}.hyperparameters.demo_path"
            demos = load_demo_batch(settings.demo_path, context.spec, key, context.device)
            self._fit_normalizer(demos.obs)
            self.labelled.add_batch(demos)
        inference = context.options.checkpoint_settings.inference
        self._policy = TeacherLabelledPolicy(
            context.spec,
            self.network,
            context.device,
            teacher,
            self.labelled,
            settings.dagger,
            labelling=lambda: not (inference or self.finished),
        )

    @property
    def policy(self) -> Policy:
        """The student's policy (asking the teacher while labelling)."""
        return self._policy

    def training_data(self) -> DemoBatch | None:
        """The labelled steps kept so far."""
        if len(self.labelled) == 0:
            return None
        return self.labelled.batch(self.context.device)
