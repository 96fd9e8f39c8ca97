"""Where a study's files live, under its output folder.

```
<output>/
  study.json                      the resolved configuration (written at every start)
  experiments.csv                 the log: one row per experiment, appended and flushed
  .lock                           held while a process runs the study
  runs/<label>/run-<r>/
    run.json                      versions, hardware, preset, progress, how the run ended
    transcript.jsonl              the agent's transcript, when it has one
    home/                         the agent's private HOME (autonomous agents)
    experiments/<index>/          train.py, diff.patch, the trainer's output and summary,
                                  experiment.json (the row and the result)
  workspaces/<label>/run-<r>/     the agent's git repository: train.py, program.md,
                                  run_experiment (nothing of the harness's own state)
```

The experiments CSV, the per-experiment files and the agent's HOME are all
outside the workspace, so an agent working in its workspace does not see
them.
"""

from __future__ import annotations

from pathlib import Path

import attrs


@attrs.frozen
class Layout:
    """The paths of one study's output folder."""

    root: Path = attrs.field(converter=Path)

    @property
    def log_path(self) -> Path:
        return self.root / "experiments.csv"

    @property
    def config_path(self) -> Path:
        return self.root / "study.json"

    @property
    def lock_path(self) -> Path:
        return self.root / ".lock"

    def run_dir(self, label: str, run: int) -> Path:
        return self.root / "runs" / label / f"run-{run}"

    def run_meta(self, label: str, run: int) -> Path:
        return self.run_dir(label, run) / "run.json"

    def transcript(self, label: str, run: int) -> Path:
        return self.run_dir(label, run) / "transcript.jsonl"

    def home(self, label: str, run: int) -> Path:
        return self.run_dir(label, run) / "home"

    def experiments_dir(self, label: str, run: int) -> Path:
        return self.run_dir(label, run) / "experiments"

    def experiment_dir(self, label: str, run: int, index: int) -> Path:
        return self.experiments_dir(label, run) / f"{index:04d}"

    def workspace(self, label: str, run: int) -> Path:
        return self.root / "workspaces" / label / f"run-{run}"
