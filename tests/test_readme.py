"""README examples: the Python API example runs as written (with a tiny model file under the
name it uses), and every option in the README's shell examples is one the command has."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import pytest

from tests.commands.conftest import FAST, invoke, write_image

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(lang: str, marker: str | None = None) -> list[str]:
    """The README's fenced ``lang`` blocks (only those right after ``<!-- marker -->``)."""
    text = README.read_text(encoding="utf-8")
    pattern = (rf"<!-- {re.escape(marker)} -->\n" if marker else "") + rf"```{lang}\n(.*?)```"
    return re.findall(pattern, text, flags=re.S)


def _samcli_commands() -> list[list[str]]:
    """Each ``samcli ...`` command of the shell examples, as argv (continuations joined,
    cut at a pipe, redirection or comment)."""
    commands = []
    for block in _blocks("sh"):
        for line in block.replace("\\\n", " ").splitlines():
            found = re.search(r"(?:^|\s)(samcli\s+(?:automask|from-boxes|models)\b.*)", line)
            if line.lstrip().startswith("#") or found is None:
                continue
            words = shlex.split(found.group(1), comments=True)
            cut = next((i for i, w in enumerate(words) if w in ("|", ">", ">>", "&&")),
                       len(words))
            commands.append(words[:cut])
    return commands


def test_the_api_example_runs_as_written(tmp_path, monkeypatch, mobile_ckpt):
    (example,) = _blocks("python", "example:api")
    shutil.copyfile(mobile_ckpt, tmp_path / "mobile_sam.pt")  # the confident test MobileSAM
    write_image(tmp_path / "photo.jpg.png", h=48, w=64, seed=3).rename(tmp_path / "photo.jpg")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(example, "README.md (Python API)", "exec"), namespace)
    assert len(namespace["props"]) > 0
    assert namespace["coco"]["annotations"]


def test_the_cocoeval_example_scores_against_a_ground_truth_numbered_otherwise(
        tmp_path, monkeypatch, mobile_ckpt):
    """A ground truth holding the proposals themselves, under image ids that are not
    samcli's (reversed, outside 1..N): the example's mapping by file name gives a perfect
    score, where loadRes of results.json as it is would refuse the ids."""
    (example,) = _blocks("python", "example:cocoeval")
    for i in range(3):
        write_image(tmp_path / "in" / f"{i}.png", h=48, w=64, seed=i)
    monkeypatch.chdir(tmp_path)
    run = invoke("automask", "in", "--checkpoint", mobile_ckpt, *FAST, "-o", "out",
                 "--format", "coco")
    assert run.exit_code == 0, run.stderr
    doc = json.loads((tmp_path / "out" / "annotations.json").read_text())
    assert len(doc["images"]) == 3 and doc["annotations"]
    theirs = {im["id"]: 1000 - im["id"] for im in doc["images"]}
    gt = {"images": [{**im, "id": theirs[im["id"]]} for im in doc["images"]],
          "annotations": [{**a, "image_id": theirs[a["image_id"]], "iscrowd": 0}
                          for a in doc["annotations"]],
          "categories": doc["categories"]}
    (tmp_path / "instances_val2017.json").write_text(json.dumps(gt))
    namespace: dict = {}
    exec(compile(example, "README.md (COCOeval)", "exec"), namespace)
    stats = namespace["ev"].stats  # (-1 for a figure at a maxDets not in the list)
    assert stats[0] == pytest.approx(1.0) and stats[1] == pytest.approx(1.0)  # AP@100, @1000
    assert list(stats[6:9]) == pytest.approx([1.0, 1.0, 1.0])  # AR@10, @100, @1000


COMMANDS = _samcli_commands()


def test_the_readme_has_shell_examples():
    assert len(COMMANDS) > 20


@pytest.fixture(scope="module")
def helps() -> dict[tuple[str, ...], str]:
    cache: dict[tuple[str, ...], str] = {}
    for argv in COMMANDS:
        key = tuple(argv[1:3] if argv[1] == "models" else argv[1:2])
        if key not in cache:
            result = invoke(*key, "--help")
            assert result.exit_code == 0, (key, result.output)
            cache[key] = result.output
    return cache


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(c)[:60] for c in COMMANDS])
def test_shell_examples_use_only_real_options(argv, helps):
    assert argv[1] in ("automask", "from-boxes", "models"), argv
    key = tuple(argv[1:3] if argv[1] == "models" else argv[1:2])
    flags = {w.split("=", 1)[0] for w in argv[2:] if re.fullmatch(r"--?[a-z][a-z0-9-]*(=.*)?", w)}
    missing = [f for f in flags if not re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])",
                                                 helps[key])]
    assert not missing, f"{' '.join(argv)}: {missing} not in samcli {' '.join(key)} --help"


@pytest.mark.parametrize("name", ["dense", "proposals"])
def test_preset_descriptions_list_exactly_their_values(name):
    """README's ``--preset NAME`` paragraph lists every option the preset sets, with its value
    (the first backquoted flag list after the preset's name)."""
    import dataclasses

    from samcli import config

    text = " ".join(README.read_text(encoding="utf-8").split())
    after = text.split(f"`--preset {name}`", 1)[1]
    listed = re.search(r"\(`(--[^`]*)`\)", after).group(1).split()
    described = dict(zip(listed[::2], listed[1::2]))
    flags = {f.name: config.flag_of(f) for f in dataclasses.fields(config.AutomaskConfig)}
    expected = {flags[key]: value for key, value in config.PRESETS[name].items()}
    assert {k: float(v) for k, v in described.items()} == \
        {k: float(v) for k, v in expected.items()}
