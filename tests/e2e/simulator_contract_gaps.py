"""``simulator_from_proto.py``'s walkers with an action mask, for the contract-gap tests: the
same server and task (grpcio's public API and the generated stubs only), plus

- ``--mask left``: every decision forbids ``left`` (choice 0), allows ``right``; a Step whose
  actions pick ``left`` anyway fails with INVALID_ARGUMENT (mlx must respect the mask);
- ``--mask none-after N``: from the N-th Step on, the first agent's mask forbids both choices,
  a simulator mistake that mlx must name instead of training on it.

Launched by ``mlx run`` like ``simulator_from_proto.py`` (its flags are accepted as they are).
"""

from __future__ import annotations

import argparse

import grpc
import numpy as np
import simulator_from_proto as walkers  # this file's folder is first on sys.path when run as a script

from mlx_core.proto import mlx_env_pb2 as pb


class MaskedWalkers(walkers.Walkers):
    mask = "left"
    forbid_all_after = 0

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.step_calls = 0

    def Step(self, request, context):  # noqa: N802 - the proto's method names
        for actions in request.actions:
            if (walkers.array(actions.discrete)[:, 0] == 0).any():
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "an action picks left, which the mask forbids")
        self.step_calls += 1
        return super().Step(request, context)

    def _result(self, reward: np.ndarray, terminals: pb.TerminalSteps | None) -> pb.StepResult:
        result = super()._result(reward, terminals)
        mask = np.tile(np.array([False, True]), (self.n, 1))  # (n_agents, sum(branches)): left, right
        if self.mask == "none-after" and self.step_calls >= self.forbid_all_after:
            mask[0] = False
        result.behaviors[0].decisions.action_mask.CopyFrom(walkers.tensor(mask))
        return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mask", choices=["left", "none-after"], default="left")
    parser.add_argument("--after", type=int, default=3)
    args, _ = parser.parse_known_args()
    MaskedWalkers.mask, MaskedWalkers.forbid_all_after = args.mask, args.after
    walkers.Walkers = MaskedWalkers  # type: ignore[misc]  # main() builds the service from this name
    walkers.main()


if __name__ == "__main__":
    main()
