"""Study files: parsing, defaults, and errors that name the file, the key and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpdream_runner.study import KeepRule, StudyConfigError, load_study, parse_study
from hpdream_runner.study._config import compare_fingerprints

GOOD = """
name = "demo"
seed = 3
replicates = 2
experiments = 10
hours = 0.5

[training]
preset = "cpu-tiny"
budget_s = 12
train_py = "train.py"
overrides = { DEPTH = 3, ADAM_BETAS = [0.9, 0.95] }

[keep]
min_improvement = 0.001

[[agents]]
adapter = "random-search"
options = { params = ["MATRIX_LR"] }

[[agents]]
adapter = "coordinate-search"
label = "coord"
replicates = 1
experiments = 4
"""


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "train.py").write_text("DEPTH = 2\n", encoding="utf-8")
    path = tmp_path / "study.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file(tmp_path: Path) -> None:
    c = load_study(_write(tmp_path, GOOD), cwd=tmp_path)
    assert c.name == "demo" and c.seed == 3
    assert c.output == (tmp_path / "runs" / "demo").resolve()
    assert c.training.budget_s == 12.0 and c.training.train_py == (tmp_path / "train.py").resolve()
    assert c.training.run_kwargs()["overrides"] == {"DEPTH": "3", "ADAM_BETAS": "(0.9, 0.95)"}
    assert c.keep == KeepRule(0.001, False)
    rs, coord = c.agents
    assert (rs.label, rs.replicates, rs.experiments, rs.hours) == ("random-search", 2, 10, 0.5)
    assert (coord.label, coord.replicates, coord.experiments) == ("coord", 1, 4)
    assert [(a.label, r) for a, r in c.runs] == [
        ("random-search", 0),
        ("coord", 0),
        ("random-search", 1),
    ]
    assert c.run_seed("coord", 0) != c.run_seed("coord", 1) != c.run_seed("random-search", 1)
    data = c.to_dict()
    assert data["agents"][0]["options"] == {"params": ["MATRIX_LR"]}
    assert data["training"]["train_py"] == str((tmp_path / "train.py").resolve())


def test_output_override_and_absolute_output(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    assert (
        load_study(path, output="elsewhere", cwd=tmp_path).output
        == (tmp_path / "elsewhere").resolve()
    )
    c = load_study(_write(tmp_path, 'output = "/tmp/x"\n' + GOOD), cwd=tmp_path)
    assert c.output == Path("/tmp/x")


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ('seed = 1\n[[agents]]\nadapter = "tpe"\nexperiments = 1\n', "name", "missing"),
        ('name = "x"\nexperiments = 2\n', "agents", "at least one"),
        ('name = "x"\n[[agents]]\nadapter = "tpe"\n', "agents[0]", "no limit"),
        ('name = "x"\nexperiments = 0\n[[agents]]\nadapter = "tpe"\n', "experiments", ">= 1"),
        ('name = "x"\nhours = -1\nexperiments = 2\n[[agents]]\nadapter = "tpe"\n', "hours", "> 0"),
        (
            'name = "x"\nexperiments = "5"\n[[agents]]\nadapter = "tpe"\n',
            "experiments",
            "whole number",
        ),
        ('name = "x"\nexperments = 5\n[[agents]]\nadapter = "tpe"\n', "experments", "unknown key"),
        (
            'name = "x"\nexperiments = 5\n[training]\nbudget = 3\n[[agents]]\nadapter = "tpe"\n',
            "training.budget",
            "unknown key",
        ),
        (
            'name = "x"\nexperiments = 5\n[training]\ntrainer = "fast"\n[[agents]]\nadapter = "tpe"\n',
            "training.trainer",
            "real, synthetic",
        ),
        (
            'name = "x"\nexperiments = 5\n[training]\ntrain_py = "missing.py"\n[[agents]]\nadapter = "tpe"\n',
            "training.train_py",
            "not a file",
        ),
        (
            'name = "x"\nexperiments = 5\n[training]\noverrides = { depth = 3 }\n[[agents]]\nadapter = "tpe"\n',
            "training.overrides.depth",
            "UPPER_CASE",
        ),
        (
            'name = "x"\nexperiments = 5\n[keep]\nrelative = "yes"\n[[agents]]\nadapter = "tpe"\n',
            "keep.relative",
            "true or false",
        ),
        ('name = "x"\nexperiments = 5\n[[agents]]\nlabel = "a"\n', "agents[0].adapter", "missing"),
        (
            'name = "x"\nexperiments = 5\n[[agents]]\nadapter = "tpe"\nlabel = "a b"\n',
            "agents[0].label",
            "usable label",
        ),
        (
            'name = "x"\nexperiments = 5\n[[agents]]\nadapter = "tpe"\n[[agents]]\nadapter = "tpe"\n',
            "agents[1].label",
            "unique",
        ),
        (
            'name = "x"\nexperiments = 5\n[[agents]]\nadapter = "tpe"\noptions = 3\n',
            "agents[0].options",
            "a table",
        ),
    ],
)
def test_errors_name_the_key(tmp_path: Path, text: str, key: str, reason: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(StudyConfigError) as info:
        load_study(path, cwd=tmp_path)
    err = info.value
    assert err.key == key
    assert reason in err.reason
    assert str(path) in str(err) and key in str(err)


def test_bad_toml_says_line(tmp_path: Path) -> None:
    path = _write(tmp_path, 'name = "x"\nexperiments = \n')
    with pytest.raises(StudyConfigError, match=r"not valid TOML.*line 2"):
        load_study(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(StudyConfigError, match="no such file"):
        load_study(tmp_path / "nope.toml")


def test_keep_rule() -> None:
    assert KeepRule().improves(1.0, None)
    assert KeepRule().improves(0.999, 1.0) and not KeepRule().improves(1.0, 1.0)
    rule = KeepRule(0.01)
    assert not rule.improves(0.995, 1.0) and rule.improves(0.989, 1.0)
    rel = KeepRule(0.01, relative=True)
    assert rel.margin(2.0) == pytest.approx(0.02)
    assert not rel.improves(1.985, 2.0) and rel.improves(1.979, 2.0)


def test_fingerprint_allows_limits_but_not_settings(tmp_path: Path) -> None:
    base = {"name": "x", "experiments": 5, "agents": [{"adapter": "tpe"}]}
    c1 = parse_study(base, base_dir=tmp_path, cwd=tmp_path)
    more = parse_study(
        {
            **base,
            "experiments": 50,
            "agents": [{"adapter": "tpe"}, {"adapter": "replay", "options": {"files": ["a"]}}],
        },
        base_dir=tmp_path,
        cwd=tmp_path,
    )
    compare_fingerprints(
        c1.fingerprint(), more.fingerprint(), tmp_path
    )  # raising limits, adding agents: fine
    other = parse_study({**base, "training": {"budget_s": 3}}, base_dir=tmp_path, cwd=tmp_path)
    with pytest.raises(StudyConfigError, match="training"):
        compare_fingerprints(c1.fingerprint(), other.fingerprint(), tmp_path)
    changed = parse_study(
        {**base, "agents": [{"adapter": "tpe", "options": {"startup_trials": 2}}]},
        base_dir=tmp_path,
        cwd=tmp_path,
    )
    with pytest.raises(StudyConfigError, match=r"agents\.tpe"):
        compare_fingerprints(c1.fingerprint(), changed.fingerprint(), tmp_path)


def test_the_examples_parse(repo_dir: Path) -> None:
    for name in ("quickstart.toml", "seed-study.toml"):
        c = load_study(repo_dir / "examples" / name, cwd=repo_dir)
        assert c.agents
    quick = load_study(repo_dir / "examples" / "quickstart.toml", cwd=repo_dir)
    assert {a.adapter for a in quick.agents} == {"random-search", "coordinate-search", "tpe"}
    assert quick.training.preset == "cpu-tiny" and quick.training.dataset == "builtin"
    seed = load_study(repo_dir / "examples" / "seed-study.toml", cwd=repo_dir)
    assert len(seed.agents) == 5 and {a.experiments for a in seed.agents} == {163}
    assert seed.training.preset == "seed"
