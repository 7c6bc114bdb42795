"""Recording an environment's frames to a GIF (Pillow) or an MP4 (imageio's ffmpeg), for ``mlx eval --video``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from mlx_core.env.base import ActionTuple, BehaviorSpec, Environment, StepResult
from mlx_core.errors import MlxError

if TYPE_CHECKING:
    from mlx_core.env.gymnasium import GymnasiumEnvironment


class Recorder(Environment):
    """Passes through to a gymnasium environment and sends a frame of its first copy to a video after each call."""

    def __init__(self, env: GymnasiumEnvironment, open_video: Callable[[float], _Video]) -> None:
        self.env = env
        vector: Any = env.vector_env.unwrapped
        copies = getattr(vector, "envs", None)  # SyncVectorEnv: render one copy, not all of them
        self._render: Callable[[], Any] = copies[0].render if copies else lambda: (vector.render() or [None])[0]
        self.video = open_video(float(vector.metadata.get("render_fps") or 30))

    @property
    def specs(self) -> dict[str, BehaviorSpec]:
        """The wrapped environment's behaviors."""
        return self.env.specs

    def reset(self) -> StepResult:
        """Reset, then record."""
        result = self.env.reset()
        self._capture()
        return result

    def step(self, actions: dict[str, ActionTuple]) -> StepResult:
        """Step, then record."""
        result = self.env.step(actions)
        self._capture()
        return result

    def close(self) -> None:
        """Close the wrapped environment and finish the video."""
        self.env.close()
        self.video.close()

    def _capture(self) -> None:
        import gymnasium

        try:
            frame = self._render()
        except gymnasium.error.Error as exc:  # e.g. DependencyNotInstalled: pygame
            raise MlxError(f"--video: {self.env.name} cannot render frames ({exc}).") from exc
        if not (isinstance(frame, np.ndarray) and frame.ndim == 3 and frame.shape[2] in (3, 4)):
            raise MlxError(
                f"--video: {self.env.name} does not render RGB frames with render_mode='rgb_array' (it returned "
                f"{type(frame).__name__}); drop --video."
            )
        self.video.add(np.ascontiguousarray(frame[..., :3], dtype=np.uint8))


class _Video(Protocol):
    def add(self, frame: np.ndarray) -> None: ...

    def close(self) -> None: ...


def video_opener(path: Path) -> Callable[[float], _Video]:
    """A function from frames per second to a video writer for ``path``; checks dependencies now."""
    extra = 'pip install "mlx-core[video]"'
    if path.suffix == ".gif":
        try:
            import PIL  # noqa: F401
        except ImportError:
            raise MlxError(f"--video {path} (GIF) needs Pillow: {extra}.") from None
        return lambda fps: _GifWriter(path, fps)
    if path.suffix == ".mp4":
        try:
            import imageio  # noqa: F401
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise MlxError(
                f"--video {path} (MP4) needs imageio and imageio-ffmpeg: {extra}; or write a .gif."
            ) from None
        return lambda fps: _Mp4Writer(path, fps)
    raise MlxError(f"--video {path}: the video file must end in .gif or .mp4.")


class _GifWriter:
    """Keeps frames as palette images (a third of RGB's memory; GIF stores palettes anyway), saves on close."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path, self.fps = path, fps
        self.frames: list[Any] = []

    def add(self, frame: np.ndarray) -> None:
        from PIL import Image

        self.frames.append(Image.fromarray(frame).convert("P", palette=Image.Palette.ADAPTIVE))

    def close(self) -> None:
        if not self.frames:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        first, *rest = self.frames
        first.save(self.path, save_all=True, append_images=rest, duration=round(1000 / self.fps), loop=0)
        self.frames = []


class _Mp4Writer:
    """Streams frames to ffmpeg through imageio."""

    def __init__(self, path: Path, fps: float) -> None:
        import imageio.v2 as imageio

        path.parent.mkdir(parents=True, exist_ok=True)
        # libx264 needs even sizes; imageio's default (16) would resize e.g. CartPole's 600 px, with a warning
        self.writer = imageio.get_writer(path, fps=fps, macro_block_size=2)

    def add(self, frame: np.ndarray) -> None:
        self.writer.append_data(frame)

    def close(self) -> None:
        self.writer.close()
