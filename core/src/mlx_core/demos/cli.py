"""``mlx demo``: commands about demonstration files (``mlx demo info FILE|DIR``)."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("demo")
def demo() -> None:
    """Inspect demonstration (.demo) files: mlx's and ML-Agents'."""


@demo.command("info")
@click.argument("path", type=click.Path(path_type=Path))
def info(path: Path) -> None:
    """Print format, behavior, spec, episodes, steps and mean return of PATH (a .demo file, or each .demo file of a folder)."""
    from mlx_core.demos.loading import demo_files, read_info
    from mlx_core.demos.records import action_summary, observation_summary

    for i, file in enumerate(demo_files(path, key="PATH")):
        summary = read_info(file)
        if i:
            click.echo()
        click.echo(str(file))
        click.echo(f"  format:       {summary.format}")
        click.echo(f"  behavior:     {summary.behavior_name}")
        click.echo(f"  observations: {observation_summary(summary.spec)}")
        click.echo(f"  actions:      {action_summary(summary.spec.action_spec)}")
        click.echo(f"  episodes:     {summary.episodes}")
        click.echo(f"  steps:        {summary.steps}")
        click.echo(f"  mean return:  {summary.mean_return:.4g}")
