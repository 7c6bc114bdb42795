"""Finding and reading demonstration files of either format (mlx's or ML-Agents'), recognised by content."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from mlx_core.demos.format import MAGIC_BYTES, decode_varint
from mlx_core.demos.reader import iter_mlx_steps, read_mlx_info
from mlx_core.demos.records import DemoInfo, DemoSteps, same_shapes, spec_summary
from mlx_core.env.base import BehaviorSpec
from mlx_core.errors import DemoError


def demo_files(path: str | Path, key: str = "demo_path") -> list[Path]:
    """``path`` itself if it is a file, else the sorted ``.demo`` files of the folder ``path``.

    ``key`` names where the path came from (a config key or a command-line argument) in errors.
    """
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.exists():
        raise DemoError(f"{key}: {path} does not exist; give a .demo file or a folder of .demo files.")
    files = sorted(p for p in path.glob("*.demo") if p.is_file())
    if not files:
        raise DemoError(
            f"{key}: the folder {path} holds no .demo files; record some with `mlx record` or point {key} elsewhere."
        )
    return files


def detect_format(path: Path) -> str:
    """``"mlx"`` or ``"ml-agents"``, from the file's first bytes (both formats use the .demo suffix)."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError as exc:
        raise DemoError(f"{path}: cannot be read ({exc.strerror}).") from None
    try:
        decoded = decode_varint(head, 0)
    except ValueError:
        decoded = None
    if decoded is not None and head[decoded[1] : decoded[1] + len(MAGIC_BYTES)] == MAGIC_BYTES:
        return "mlx"
    from mlx_core.demos.mlagents import looks_like_mlagents

    if looks_like_mlagents(head):
        return "ml-agents"
    if len(head) == 0:
        raise DemoError(f"{path}: the file is empty (0 bytes), not a demonstration; record it again.")
    raise DemoError(
        f"{path}: corrupt data at byte 0: the file starts like neither an mlx nor an ML-Agents demonstration "
        "(.demo); check that it is a demonstration file, or record it again."
    )


def read_info(path: str | Path) -> DemoInfo:
    """The summary of one demonstration file, after reading it through to validate it (in bounded memory)."""
    path = Path(path)
    if detect_format(path) == "mlx":
        return read_mlx_info(path)
    from mlx_core.demos.mlagents import read_mlagents_info

    return read_mlagents_info(path)


def iter_steps(path: str | Path, chunk: int = 4096) -> Iterator[DemoSteps]:
    """The records of one demonstration file, in file order, in batches of up to ``chunk`` records."""
    path = Path(path)
    if detect_format(path) == "mlx":
        yield from iter_mlx_steps(path, chunk)
    else:
        from mlx_core.demos.mlagents import iter_mlagents_steps

        yield from iter_mlagents_steps(path, chunk)


def load_demos(
    path: str | Path, spec: BehaviorSpec | None = None, key: str = "demo_path"
) -> tuple[list[DemoInfo], DemoSteps]:
    """Every record of a file or folder of demonstrations, concatenated in file order.

    With ``spec``, a file recorded for other observation shapes or actions raises
    :class:`DemoError` showing both specs; files of one folder must share one spec.
    """
    infos = [read_info(p) for p in demo_files(path, key)]
    expected, source = (spec, "the environment's behavior") if spec is not None else (infos[0].spec, str(infos[0].path))
    for info in infos:
        if not same_shapes(info.spec, expected):
            raise DemoError(
                f"{key}: {info.path} was recorded for {spec_summary(info.spec)}, but {source} has "
                f"{spec_summary(expected)}. Use demonstrations recorded for this behavior."
            )
    parts = [steps for info in infos for steps in iter_steps(info.path)]
    if not parts:
        raise DemoError(f"{key}: {path} holds no agent records; record some episodes first.")
    return infos, DemoSteps.concat(parts)
