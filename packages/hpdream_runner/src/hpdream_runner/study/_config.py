"""Study files: a TOML description of a study, validated with errors that say where and why.

```toml
name = "quickstart"            # the study column of every row
output = "runs/quickstart"     # default runs/<name>; relative to the working directory
seed = 0
replicates = 1                 # runs per agent
experiments = 8                # per run, the baseline included
hours = 0.05                   # wall-clock per run (experiments and/or hours)

[training]
preset = "cpu-tiny"
dataset = "builtin"

[keep]
min_improvement = 0.0          # keep when val_bpb drops by more than this

[[agents]]
adapter = "random-search"
label = "random-search"        # default: the adapter's name
options = { params = ["MATRIX_LR"] }
```

See docs/studies.md for every key.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal

import attrs

from hpdream_core import HpdreamError

#: Version of the resolved configuration file (``study.json``).
CONFIG_FORMAT_VERSION: Final = 1

LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
TRAINERS: Final = ("real", "synthetic")


class StudyConfigError(HpdreamError, ValueError):
    """A study file is invalid: which file, which key, and why."""

    def __init__(self, path: str | Path | None, key: str | None, reason: str) -> None:
        self.path = None if path is None else str(path)
        self.key = key
        self.reason = reason
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path or "study"
        if self.key:
            where += f": {self.key}"
        return f"{where}: {self.reason}"


@attrs.frozen
class TrainingConfig:
    """How each experiment is trained (see ``hpdream_runner.training.run_training``)."""

    preset: str = "cpu-tiny"
    dataset: str = "builtin"
    data_dir: Path | None = None
    vocab_size: int | None = None
    budget_s: float | None = None
    grace_s: float | None = None
    device: str | None = None
    train_py: Path | None = None
    overrides: Mapping[str, Any] = attrs.field(factory=dict)
    trainer: Literal["real", "synthetic"] = "real"

    def run_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of the trainer call (besides the file and the output folder)."""
        return {
            "preset": self.preset,
            "dataset": self.dataset,
            "data_dir": self.data_dir,
            "vocab_size": self.vocab_size,
            "budget_s": self.budget_s,
            "device": self.device,
            "overrides": {k: _override_text(v) for k, v in self.overrides.items()} or None,
            "grace_s": self.grace_s,
        }


def _override_text(value: Any) -> str:
    """A TOML value as the Python literal text ``run_training`` takes for an override."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return repr(tuple(value))
    return repr(value)


@attrs.frozen
class KeepRule:
    """Keep an experiment when it beats the best so far by more than ``min_improvement``.

    With ``relative = true`` the margin is a fraction of the best val_bpb.
    """

    min_improvement: float = 0.0
    relative: bool = False

    def margin(self, best: float) -> float:
        return self.min_improvement * best if self.relative else self.min_improvement

    def improves(self, val_bpb: float, best: float | None) -> bool:
        if best is None:
            return True
        return val_bpb < best - self.margin(best)


@attrs.frozen
class AgentConfig:
    """One agent of the study: an adapter, its label, options and limits."""

    adapter: str
    label: str
    options: Mapping[str, Any] = attrs.field(factory=dict)
    limits: Mapping[str, Any] = attrs.field(factory=dict)
    replicates: int = 1
    experiments: int | None = None
    hours: float | None = None
    max_crashes_in_a_row: int | None = None


@attrs.frozen
class StudyConfig:
    """A validated study file; relative paths are resolved (``base_dir``: the file's folder)."""

    name: str
    output: Path
    agents: tuple[AgentConfig, ...]
    training: TrainingConfig = TrainingConfig()
    keep: KeepRule = KeepRule()
    seed: int = 0
    source: Path | None = None
    base_dir: Path = attrs.field(factory=Path.cwd)
    description: str = ""

    @property
    def runs(self) -> list[tuple[AgentConfig, int]]:
        """Every (agent, run) of the study, in the order they are run (run-major)."""
        most = max(a.replicates for a in self.agents)
        return [(a, r) for r in range(most) for a in self.agents if r < a.replicates]

    def agent(self, label: str) -> AgentConfig:
        for a in self.agents:
            if a.label == label:
                return a
        raise KeyError(label)

    def run_seed(self, label: str, run: int) -> int:
        """The seed of one (agent, run): stable, different per label and run."""
        digest = hashlib.sha256(f"{self.seed}:{label}:{run}".encode()).digest()
        return int.from_bytes(digest[:4], "big")

    def to_dict(self) -> dict[str, Any]:
        """The resolved configuration, as JSON-ready data (paths absolute)."""

        def plain(value: Any) -> Any:
            if isinstance(value, Path):
                return str(value)
            if isinstance(value, Mapping):
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, list | tuple):
                return [plain(v) for v in value]
            return value

        return {
            "format_version": CONFIG_FORMAT_VERSION,
            "name": self.name,
            "description": self.description,
            "output": str(self.output),
            "source": None if self.source is None else str(self.source),
            "seed": self.seed,
            "training": plain(attrs.asdict(self.training, recurse=False)),
            "keep": attrs.asdict(self.keep),
            "agents": [plain(attrs.asdict(a, recurse=False)) for a in self.agents],
        }

    def fingerprint(self) -> dict[str, Any]:
        """What must not change when a study is resumed (limits and added agents may)."""
        data = self.to_dict()
        return {
            "name": data["name"],
            "seed": data["seed"],
            "training": data["training"],
            "keep": data["keep"],
            "agents": {
                a["label"]: {"adapter": a["adapter"], "options": a["options"]}
                for a in data["agents"]
            },
        }


# --- parsing --------------------------------------------------------------------------

_TOP_KEYS = {
    "name",
    "description",
    "output",
    "seed",
    "replicates",
    "experiments",
    "hours",
    "training",
    "keep",
    "agents",
    "max_crashes_in_a_row",
}
_TRAINING_KEYS = {f.name for f in attrs.fields(TrainingConfig)}
_KEEP_KEYS = {"min_improvement", "relative"}
_AGENT_KEYS = {
    "adapter",
    "label",
    "options",
    "limits",
    "replicates",
    "experiments",
    "hours",
    "max_crashes_in_a_row",
}


class _Reader:
    def __init__(self, path: Path | None) -> None:
        self.path = path

    def fail(self, key: str | None, reason: str) -> StudyConfigError:
        return StudyConfigError(self.path, key, reason)

    def unknown(self, table: Mapping[str, Any], known: set[str], where: str) -> None:
        extra = sorted(set(table) - known)
        if extra:
            prefix = f"{where}." if where else ""
            raise self.fail(
                f"{prefix}{extra[0]}", f"unknown key (known here: {', '.join(sorted(known))})"
            )

    def string(
        self, table: Mapping[str, Any], key: str, where: str, default: str | None = None
    ) -> str | None:
        if key not in table:
            return default
        value = table[key]
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, f"must be a non-empty string, got {value!r}")
        return value

    def integer(
        self,
        table: Mapping[str, Any],
        key: str,
        where: str,
        minimum: int,
        default: int | None = None,
    ) -> int | None:
        if key not in table:
            return default
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(where, f"must be a whole number, got {value!r}")
        if value < minimum:
            raise self.fail(where, f"must be >= {minimum}, got {value}")
        return value

    def number(
        self,
        table: Mapping[str, Any],
        key: str,
        where: str,
        *,
        positive: bool,
        default: float | None = None,
    ) -> float | None:
        if key not in table:
            return default
        value = table[key]
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise self.fail(where, f"must be a number, got {value!r}")
        if positive and value <= 0:
            raise self.fail(where, f"must be > 0, got {value}")
        if not positive and value < 0:
            raise self.fail(where, f"must be >= 0, got {value}")
        return float(value)

    def table(self, table: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
        value = table.get(key, {})
        if not isinstance(value, Mapping):
            raise self.fail(where, f"must be a table, got {value!r}")
        return dict(value)

    def to_path(self, value: Any, where: str, base: Path) -> Path:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, f"must be a path (a string), got {value!r}")
        p = Path(value).expanduser()
        return p if p.is_absolute() else (base / p)


def parse_study(
    data: Mapping[str, Any],
    *,
    path: Path | None = None,
    base_dir: Path | None = None,
    cwd: Path | None = None,
    output: Path | None = None,
) -> StudyConfig:
    """Validate the data of a study file.

    Paths inside ``[training]`` and agent options are relative to ``base_dir``
    (the study file's folder); ``output`` is relative to ``cwd`` (the working
    directory), unless ``output`` is given here, which wins.
    """
    r = _Reader(path)
    base = (base_dir or (path.parent if path else Path.cwd())).resolve()
    here = (cwd or Path.cwd()).resolve()
    r.unknown(data, _TOP_KEYS, "")
    name = r.string(data, "name", "name")
    if name is None:
        raise r.fail(
            "name", "missing: every study needs a name (it is the study column of the log)"
        )
    description = r.string(data, "description", "description", "") or ""
    out = (
        output
        if output is not None
        else r.to_path(data.get("output", f"runs/{name}"), "output", here)
    )
    out = (here / out if not out.is_absolute() else out).resolve()
    seed = r.integer(data, "seed", "seed", 0, 0) or 0
    replicates = r.integer(data, "replicates", "replicates", 1, 1) or 1
    experiments = r.integer(data, "experiments", "experiments", 1)
    hours = r.number(data, "hours", "hours", positive=True)
    crashes = r.integer(data, "max_crashes_in_a_row", "max_crashes_in_a_row", 1)

    tr = r.table(data, "training", "training")
    r.unknown(tr, _TRAINING_KEYS, "training")
    trainer = r.string(tr, "trainer", "training.trainer", "real")
    if trainer not in TRAINERS:
        raise r.fail("training.trainer", f"must be one of {', '.join(TRAINERS)}, got {trainer!r}")
    overrides = r.table(tr, "overrides", "training.overrides")
    for key in overrides:
        if not re.match(r"^[A-Z][A-Z0-9_]*$", key):
            raise r.fail(f"training.overrides.{key}", "not a train.py constant name (UPPER_CASE)")
    training = TrainingConfig(
        preset=r.string(tr, "preset", "training.preset", "cpu-tiny") or "cpu-tiny",
        dataset=r.string(tr, "dataset", "training.dataset", "builtin") or "builtin",
        data_dir=None
        if "data_dir" not in tr
        else r.to_path(tr["data_dir"], "training.data_dir", base).resolve(),
        vocab_size=r.integer(tr, "vocab_size", "training.vocab_size", 2),
        budget_s=r.number(tr, "budget_s", "training.budget_s", positive=True),
        grace_s=r.number(tr, "grace_s", "training.grace_s", positive=False),
        device=r.string(tr, "device", "training.device"),
        train_py=None
        if "train_py" not in tr
        else r.to_path(tr["train_py"], "training.train_py", base).resolve(),
        overrides=overrides,
        trainer=trainer,  # type: ignore[arg-type]
    )
    if training.train_py is not None and not training.train_py.is_file():
        raise r.fail("training.train_py", f"{training.train_py} is not a file")

    kp = r.table(data, "keep", "keep")
    r.unknown(kp, _KEEP_KEYS, "keep")
    relative = kp.get("relative", False)
    if not isinstance(relative, bool):
        raise r.fail("keep.relative", f"must be true or false, got {relative!r}")
    keep = KeepRule(
        r.number(kp, "min_improvement", "keep.min_improvement", positive=False, default=0.0) or 0.0,
        relative,
    )

    raw_agents = data.get("agents")
    if not isinstance(raw_agents, list) or not raw_agents:
        raise r.fail("agents", "missing: add at least one [[agents]] table with an adapter")
    agents: list[AgentConfig] = []
    labels: set[str] = set()
    for i, raw in enumerate(raw_agents):
        where = f"agents[{i}]"
        if not isinstance(raw, Mapping):
            raise r.fail(where, "must be a table ([[agents]])")
        r.unknown(raw, _AGENT_KEYS, where)
        adapter = r.string(raw, "adapter", f"{where}.adapter")
        if adapter is None:
            raise r.fail(
                f"{where}.adapter", "missing: which agent adapter runs (e.g. random-search)"
            )
        label = r.string(raw, "label", f"{where}.label", adapter) or adapter
        if not LABEL.match(label):
            raise r.fail(
                f"{where}.label",
                f"{label!r} is not a usable label (letters, digits, . _ + -, at most 64, no spaces or slashes)",
            )
        if label in labels:
            raise r.fail(
                f"{where}.label", f"{label!r} is used by another agent; labels must be unique"
            )
        labels.add(label)
        agent_experiments = r.integer(raw, "experiments", f"{where}.experiments", 1, experiments)
        agent_hours = r.number(raw, "hours", f"{where}.hours", positive=True, default=hours)
        if agent_experiments is None and agent_hours is None:
            raise r.fail(
                where,
                "no limit: give experiments and/or hours (at the top, or for this agent), "
                "or the runs would never end",
            )
        agents.append(
            AgentConfig(
                adapter=adapter,
                label=label,
                options=r.table(raw, "options", f"{where}.options"),
                limits=r.table(raw, "limits", f"{where}.limits"),
                replicates=r.integer(raw, "replicates", f"{where}.replicates", 1, replicates) or 1,
                experiments=agent_experiments,
                hours=agent_hours,
                max_crashes_in_a_row=r.integer(
                    raw, "max_crashes_in_a_row", f"{where}.max_crashes_in_a_row", 1, crashes
                ),
            )
        )
    return StudyConfig(
        name=name,
        output=out,
        agents=tuple(agents),
        training=training,
        keep=keep,
        seed=seed,
        source=None if path is None else path.resolve(),
        base_dir=base,
        description=description,
    )


def load_study(
    path: str | Path, *, output: str | Path | None = None, cwd: Path | None = None
) -> StudyConfig:
    """Read and validate a study file (``output`` overrides the file's output folder)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StudyConfigError(p, None, "no such file") from None
    except OSError as exc:
        raise StudyConfigError(p, None, f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise StudyConfigError(p, None, f"not UTF-8 text ({exc.reason})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StudyConfigError(p, None, f"not valid TOML: {exc}") from None
    here = (cwd or Path.cwd()).resolve()
    out = None if output is None else (here / Path(output).expanduser()).resolve()
    return parse_study(data, path=p, cwd=here, output=out)


def compare_fingerprints(old: Mapping[str, Any], new: Mapping[str, Any], output: Path) -> None:
    """Refuse to resume a study whose results-defining settings changed; say which."""
    for key in ("name", "seed", "training", "keep"):
        if old.get(key) != new.get(key):
            raise StudyConfigError(
                output / "study.json",
                key,
                f"the study in {output} ran with {json.dumps(old.get(key), sort_keys=True)}, "
                f"the study file now says {json.dumps(new.get(key), sort_keys=True)}; "
                "resume with the same settings, or choose a new output folder",
            )
    old_agents, new_agents = old.get("agents", {}), new.get("agents", {})
    for label, spec in new_agents.items():
        if label in old_agents and old_agents[label] != spec:
            raise StudyConfigError(
                output / "study.json",
                f"agents.{label}",
                f"agent {label!r} ran with {json.dumps(old_agents[label], sort_keys=True)}, "
                f"now {json.dumps(spec, sort_keys=True)}; give the changed agent a new label",
            )
