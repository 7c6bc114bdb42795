"""The plugin manager with real entry points: listing, unknown names, and broken plugins.

Nothing is pip-installed here: the listing tests use the installed mlx-core and mlx-ppo, and
the broken-plugin tests put a hand-written ``*.dist-info`` folder on ``PYTHONPATH`` of a
subprocess, which ``importlib.metadata`` discovers like any installed distribution.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

from mlx_core.errors import PluginError
from mlx_core.plugins.manager import Plugins, unknown_name_message


def mlx_plugins(pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``mlx plugins`` in a fresh interpreter, optionally with an extra import folder."""
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "mlx_core.cli", "plugins"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def listing_of(stdout: str, distribution: str) -> str:
    """The block of ``mlx plugins`` output for one distribution (its header and indented lines)."""
    match = re.search(rf"^{re.escape(distribution)} .*\n(?:  .*\n?)*", stdout, re.MULTILINE)
    assert match, f"{distribution} is not listed:\n{stdout}"
    return match.group(0)


def write_distribution(folder: Path, name: str, module: str, source: str) -> None:
    """A minimal installed distribution in ``folder``: its dist-info with one ``mlx`` entry point,
    and the entry point's module."""
    dist_info = folder / f"{name.replace('-', '_')}-0.3.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.3.0\n")
    (dist_info / "entry_points.txt").write_text(f"[mlx]\n{module} = {module}\n")
    (folder / f"{module}.py").write_text(textwrap.dedent(source))


@pytest.fixture(scope="module")
def listing() -> str:
    """``mlx plugins`` output of this environment (run once for the module)."""
    proc = mlx_plugins()
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_plugins_lists_ppo_with_its_distribution_and_version(listing: str) -> None:
    block = listing_of(listing, "mlx-ppo")
    assert block.startswith(f"mlx-ppo {metadata.version('mlx-ppo')} ")
    assert "mlx_ppo.plugin" in block
    assert re.search(r"^  trainer: .*\bppo\b", block, re.MULTILINE)


def test_plugins_lists_core_defaults_under_mlx_core(listing: str) -> None:
    block = listing_of(listing, "mlx-core")
    assert block.startswith(f"mlx-core {metadata.version('mlx-core')} ")
    assert re.search(r"^  reward signal: .*\bextrinsic\b", block, re.MULTILINE)
    assert re.search(r"^  exporter: .*\bonnx\b", block, re.MULTILINE)
    assert re.search(r"^  environment: .*\bbuiltin\b", block, re.MULTILINE)
    assert re.search(r"^  environment: .*\bgymnasium\b", block, re.MULTILINE)


def test_registry_knows_which_distribution_offers_each_trainer() -> None:
    plugins = Plugins()
    (ppo,) = [p for p in plugins.provided("trainer") if p.type.name == "ppo"]
    assert (ppo.plugin.distribution, ppo.plugin.version) == ("mlx-ppo", metadata.version("mlx-ppo"))
    entry_points = {ep.name: ep.value for ep in metadata.distribution("mlx-ppo").entry_points if ep.group == "mlx"}
    assert entry_points == {"ppo": ppo.plugin.module.__name__}


def test_unknown_first_party_trainer_says_what_to_pip_install() -> None:
    text = unknown_name_message("trainer", "sac", ["ppo"], where="behaviors.Walker.trainer")
    assert "'sac'" in text
    assert "behaviors.Walker.trainer" in text
    assert "pip install mlx-sac" in text
    assert "Installed trainer names: ppo." in text


def test_misspelt_name_suggests_the_close_match() -> None:
    text = unknown_name_message("trainer", "ppp", ["ppo", "reinforce"])
    assert "Did you mean 'ppo'?" in text
    assert "pip install" not in text  # no distribution is known to offer 'ppp'


def test_registry_lookup_of_unknown_name_lists_installed_names() -> None:
    with pytest.raises(PluginError) as caught:
        Plugins().get("reward signal", "extrinsik", where="behaviors.B.reward_signals")
    text = str(caught.value)
    assert "Did you mean 'extrinsic'?" in text
    assert "Installed reward signal names:" in text and "extrinsic" in text


def test_plugin_that_fails_to_import_names_its_distribution(tmp_path: Path) -> None:
    write_distribution(
        tmp_path,
        "mlx-broken-algo",
        "mlx_broken_algo",
        """\
        raise ImportError("libbroken.so: cannot open shared object file")
        """,
    )
    proc = mlx_plugins(pythonpath=tmp_path)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "mlx-broken-algo 0.3.0" in proc.stderr
    assert "libbroken.so" in proc.stderr
    assert "pip uninstall mlx-broken-algo" in proc.stderr


def test_two_distributions_offering_one_trainer_name_is_an_error_naming_both(tmp_path: Path) -> None:
    write_distribution(
        tmp_path,
        "mlx-other-ppo",
        "mlx_other_ppo",
        """\
        from mlx_core.hookspecs import hookimpl
        from mlx_core.plugins.types import TrainerType


        @hookimpl
        def mlx_trainer_types():
            return [TrainerType(name="ppo", settings=dict, factory=lambda context: None)]
        """,
    )
    proc = mlx_plugins(pythonpath=tmp_path)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "'ppo'" in proc.stderr
    assert "mlx-ppo" in proc.stderr and "mlx-other-ppo" in proc.stderr
