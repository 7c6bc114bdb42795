"""keep_freed_memory: freed activations are reused instead of faulted in afresh every step."""

from __future__ import annotations

import subprocess
import sys

import pytest

# A training step of a 256-unit MLP on 1,024 samples (1 MiB activations), run in a fresh
# interpreter so the allocator settings of this test process are left alone; prints the
# minor page faults per step.
FAULTS_PER_STEP = """
import resource, sys, torch
from torch import nn
torch.set_num_threads(1)
if sys.argv[1] == "keep":
    from mlx_core.training.memory import keep_freed_memory
    assert keep_freed_memory()
net = nn.Sequential(nn.Linear(8, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 1))
adam = torch.optim.Adam(net.parameters())
x = torch.randn(1024, 8)
def step():
    loss = net(x).square().mean()
    adam.zero_grad()
    loss.backward()
    adam.step()
for _ in range(30):  # the heap grows to its working size
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(60):
    step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 60)
"""


def faults_per_step(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", FAULTS_PER_STEP, mode], capture_output=True, text=True, check=True)
    return float(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator settings")
def test_freed_memory_is_reused_without_page_faults() -> None:
    default, kept = faults_per_step("default"), faults_per_step("keep")
    # glibc's defaults hand the 1 MiB blocks back and fault them in again every step
    assert default > 50
    # kept: at most an occasional growth of the heap (256 faults for one more MiB)
    assert kept < default / 8


def test_elsewhere_it_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlx_core.training import memory

    monkeypatch.setattr(memory.sys, "platform", "darwin")
    assert memory.keep_freed_memory() is False
