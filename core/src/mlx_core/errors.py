"""The one exception family for user mistakes, caught once by the CLI and printed as a paragraph."""

from __future__ import annotations


class MlxError(Exception):
    """A problem the user can fix (bad config, unknown plugin name, missing file).

    The CLI prints ``str(error)`` as one paragraph, without a traceback, and exits non-zero.
    """


class ConfigError(MlxError):
    """A configuration file or command line that cannot be turned into run options.

    One problem reads as one line, ``source: problem``. Several read as a header line and one
    line per problem, as a compiler lists its errors::

        config.yaml: 2 problems:
          - behaviors.A.max_steps (line 3): expected an integer, got 'lots'
          - behaviors.A.time_horizn (line 4): unknown key 'time_horizn'; did you mean 'time_horizon'?
    """

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        if len(problems) == 1:
            text = f"{source}: {problems[0]}"
        else:
            listed = "".join(f"\n  - {problem}" for problem in problems)
            text = f"{source}: {len(problems)} problems:{listed}"
        super().__init__(text)


class PluginError(MlxError):
    """A plugin name that nothing installed provides, or a plugin that fails to load."""


class EnvError(MlxError):
    """An environment that cannot be created, reached or understood."""


class DemoError(MlxError):
    """A demonstration file or folder that cannot be used: missing, empty, corrupt or for other specs.

    The message names the file (and the byte offset where data is truncated or corrupt).
    """


class WorkerFailure(Exception):
    """An environment worker or simulator that crashed, hung past its timeout or went away.

    Not a user mistake: the worker pool restarts the worker (within the restart limits of
    ``env_settings``) instead of stopping the run.
    """
