"""A simulator written as an author in another language would write it: from ``mlx_env.proto``
alone, with grpcio's public server and the generated stubs (no other mlx code).

The task: ``--agents`` agents on a line each walk to the end their goal sign points at
(observation [x, goal], two discrete actions: left, right). Reaching the goal gives +1 and
ends the episode, the wrong end -1, every other step -0.01; 30 steps interrupt it. A learned
policy scores above 0.8, a random one below 0.

Options that exercise what the protocol leaves to the simulator:

- ``--step-calls both`` offers Step and StepStream; ``unary`` leaves StepStream to the
  generated servicer's default (UNIMPLEMENTED); ``unlisted`` registers a service without
  StepStream at all.
- ``--ids same`` gives an agent the same id in its next episode (it ends one episode and asks
  for its next decision in the same result); ``--ids new`` gives it a new id each episode.

Launched by ``mlx run`` (``--mlx-port PORT`` plus engine flags, which it ignores) or started
by hand with ``--mlx-port``. Prints ``listening on PORT`` to stderr when ready; exits on Close,
SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from concurrent import futures

import grpc
import numpy as np

from mlx_core.proto import mlx_env_pb2 as pb
from mlx_core.proto import mlx_env_pb2_grpc as pb_grpc

BEHAVIOR = "Walker"
STEP, MAX_STEPS = 0.2, 30


def tensor(array: np.ndarray) -> pb.Tensor:
    """A proto Tensor: little-endian bytes in C order."""
    array = np.ascontiguousarray(array)
    return pb.Tensor(dtype=array.dtype.name, shape=list(array.shape), data=array.astype(array.dtype.newbyteorder("<")).tobytes())


def array(message: pb.Tensor) -> np.ndarray:
    return np.frombuffer(message.data, dtype=np.dtype(message.dtype).newbyteorder("<")).reshape(tuple(message.shape))


class Walkers(pb_grpc.EnvironmentServicer):
    """The service; ``StepStream`` is inherited (UNIMPLEMENTED) unless ``--step-calls both``."""

    def __init__(self, agents: int, new_ids: bool, closed: threading.Event) -> None:
        self.n, self.new_ids, self.closed = agents, new_ids, closed
        self.rng = np.random.default_rng(0)
        self.x = np.zeros(agents, np.float32)
        self.goal = np.ones(agents, np.float32)
        self.steps = np.zeros(agents, np.int64)
        self.ids = np.arange(agents, dtype=np.int64)
        self.next_id = agents
        self.lock = threading.Lock()

    def Initialize(self, request, context):  # noqa: N802 - the proto's method names
        if request.seed >= 0:
            self.rng = np.random.default_rng(request.seed)
        spec = pb.BehaviorSpec(
            name=BEHAVIOR,
            observations=[pb.ObservationSpec(name="position", shape=[2])],
            actions=pb.ActionSpec(continuous_size=0, discrete_branches=[2]),
        )
        return pb.InitializeResponse(protocol_version=request.protocol_version, name="walkers", behaviors=[spec])

    def Reset(self, request, context):  # noqa: N802
        with self.lock:
            self._start(np.ones(self.n, bool))
            return self._result(np.zeros(self.n, np.float32), None)

    def Step(self, request, context):  # noqa: N802
        with self.lock:
            moves = np.zeros(self.n, np.float32)
            for actions in request.actions:
                moves = array(actions.discrete)[:, 0].astype(np.float32) * 2 - 1  # 0: left, 1: right
            self.x = np.clip(self.x + moves * STEP, -1, 1).astype(np.float32)
            self.steps += 1
            reached, wrong = self.x * self.goal >= 1 - 1e-6, self.x * self.goal <= -1 + 1e-6
            reward = np.where(reached, 1.0, np.where(wrong, -1.0, -0.01)).astype(np.float32)
            timed_out = (self.steps >= MAX_STEPS) & ~(reached | wrong)
            done = reached | wrong | timed_out
            terminals = None
            if done.any():
                terminals = pb.TerminalSteps(
                    observations=[tensor(self._observe()[done])],
                    reward=tensor(reward[done]),
                    agent_id=tensor(self.ids[done]),
                    interrupted=tensor(timed_out[done]),
                )
                self._start(done)
            return self._result(np.where(done, 0.0, reward).astype(np.float32), terminals)

    def StepStream(self, request_iterator, context):  # noqa: N802 - replaced below for --step-calls unary
        for request in request_iterator:
            yield self.Step(request, context)

    def SetParameters(self, request, context):  # noqa: N802
        return pb.Empty()

    def Close(self, request, context):  # noqa: N802
        self.closed.set()
        return pb.Empty()

    def _start(self, agents: np.ndarray) -> None:
        self.x[agents] = 0.0
        self.goal[agents] = self.rng.choice(np.array([-1.0, 1.0], np.float32), size=int(agents.sum()))
        self.steps[agents] = 0
        if self.new_ids:  # a fresh id per episode; "same" keeps each agent's id
            count = int(agents.sum())
            self.ids[agents] = np.arange(self.next_id, self.next_id + count)
            self.next_id += count

    def _observe(self) -> np.ndarray:
        return np.stack([self.x, self.goal], axis=1)

    def _result(self, reward: np.ndarray, terminals: pb.TerminalSteps | None) -> pb.StepResult:
        decisions = pb.DecisionSteps(observations=[tensor(self._observe())], reward=tensor(reward), agent_id=tensor(self.ids))
        return pb.StepResult(behaviors=[pb.BehaviorSteps(behavior=BEHAVIOR, decisions=decisions, terminals=terminals)])


def unlisted_handler(service: Walkers) -> grpc.GenericRpcHandler:
    """The Environment service registered without StepStream at all."""

    def unary(method, request_type, response_type):  # type: ignore[no-untyped-def]
        return grpc.unary_unary_rpc_method_handler(
            method, request_deserializer=request_type.FromString, response_serializer=response_type.SerializeToString
        )

    return grpc.method_handlers_generic_handler(
        "mlx.env.v1.Environment",
        {
            "Initialize": unary(service.Initialize, pb.InitializeRequest, pb.InitializeResponse),
            "Reset": unary(service.Reset, pb.ResetRequest, pb.StepResult),
            "Step": unary(service.Step, pb.StepRequest, pb.StepResult),
            "SetParameters": unary(service.SetParameters, pb.SetParametersRequest, pb.Empty),
            "Close": unary(service.Close, pb.CloseRequest, pb.Empty),
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mlx-port", type=int, required=True)
    parser.add_argument("--agents", type=int, default=8)
    parser.add_argument("--step-calls", choices=["both", "unary", "unlisted"], default="both")
    parser.add_argument("--ids", choices=["same", "new"], default="same")
    args, _engine_flags = parser.parse_known_args()

    closed = threading.Event()
    service = Walkers(args.agents, args.ids == "new", closed)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    if args.step_calls == "unlisted":
        server.add_generic_rpc_handlers((unlisted_handler(service),))
    else:
        if args.step_calls == "unary":
            del Walkers.StepStream  # the generated servicer's own StepStream answers UNIMPLEMENTED
        pb_grpc.add_EnvironmentServicer_to_server(service, server)
    port = server.add_insecure_port(f"127.0.0.1:{args.mlx_port}")
    server.start()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: closed.set())
    print(f"listening on {port}", file=sys.stderr, flush=True)
    while not closed.wait(0.2):  # bounded, so that the signal handlers run
        pass
    server.stop(0.5).wait()


if __name__ == "__main__":
    main()
