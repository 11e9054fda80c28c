"""collect_images: files, folders, stdin, glob, order, links, hidden, duplicates, problems."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from samcli.errors import ConfigError
from samcli.io.inputs import InputItem, Problem, collect_images, compile_glob


def touch(root: Path, *rels: str) -> None:
    for rel in rels:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")


def rels(items: list[InputItem]) -> list[str]:
    return [i.rel for i in items]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    touch(
        root,
        "b.jpg", "a.PNG", "notes.txt", "c.gif",
        "sub/z.jpeg", "sub/deep/y.webp", "sub/cam1/x.jpg",
        "a-b/q.tif", "a/p.tiff", "a/o.bmp",
        ".samcli/manifest.png", ".hidden.jpg", "sub/._x.jpg",
        "cam1/top.jpg",
    )
    return root


def test_folder_walk_sorted_and_filtered(tree):
    items, problems = collect_images([str(tree)])
    assert problems == []
    assert rels(items) == [
        "a/o.bmp", "a/p.tiff", "a-b/q.tif", "a.PNG", "b.jpg", "cam1/top.jpg",
        "sub/cam1/x.jpg", "sub/deep/y.webp", "sub/z.jpeg",
    ]
    first = items[0]
    assert first.path == tree / "a" / "o.bmp"
    assert first.root == tree


def test_trailing_slash_and_dot_root(tree, monkeypatch):
    a, _ = collect_images([str(tree) + "/"])
    monkeypatch.chdir(tree)
    b, _ = collect_images(["."])
    assert rels(a) == rels(b)
    assert b[0].path == Path("a/o.bmp")


def test_lone_files_rel_as_given(tree, monkeypatch):
    monkeypatch.chdir(tree.parent)
    items, problems = collect_images(["./data/b.jpg", "data//sub/z.jpeg", str(tree / "a.PNG")])
    assert problems == []
    assert rels(items) == ["data/b.jpg", "data/sub/z.jpeg", str(tree / "a.PNG")]
    assert all(i.root is None for i in items)
    # a hidden file named explicitly is used
    items, _ = collect_images(["data/.hidden.jpg"])
    assert rels(items) == ["data/.hidden.jpg"]


def test_problems_not_fatal(tree):
    items, problems = collect_images(
        [str(tree / "notes.txt"), str(tree / "missing.jpg"), str(tree / "b.jpg"),
         str(tree / "c.gif")]
    )
    assert rels(items) == [str(tree / "b.jpg")]
    assert len(problems) == 3
    messages = [p.message for p in problems]
    assert messages[0].startswith(str(tree / "notes.txt"))
    assert "not a supported image" in messages[0]
    assert "no such file" in messages[1]
    assert "c.gif" in messages[2]
    assert problems[1].input == messages[1].split(":")[0]  # the path as given: its manifest key


def test_duplicates_kept_once(tree):
    items, problems = collect_images(
        [str(tree / "b.jpg"), str(tree), str(tree / "sub"), str(tree / "." / "b.jpg")]
    )
    assert problems == []
    paths = [os.path.realpath(i.path) for i in items]
    assert len(paths) == len(set(paths)) == 9
    assert items[0].rel == str(tree / "b.jpg")  # the first occurrence wins


@pytest.mark.parametrize("label, names", [
    ("one name under two folders", ("cam1/a.jpg", "cam2/a.jpg")),
    ("an undecodable byte and its escaped spelling", (b"cam1/caf\xff.jpg", "cam1/caf\\xff.jpg")),
])
def test_two_files_with_one_rel_are_a_problem(tmp_path, label, names):
    """rel keys records, outputs and the manifest: the second file claiming one is refused
    (named, with the first), the first is kept, the walk goes on."""
    for name in names:
        path = os.path.join(os.fsencode(tmp_path), os.fsencode(name))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(b"x")
    touch(tmp_path, "cam2/z.jpg")
    if label.startswith("one name"):
        inputs = [str(tmp_path / "cam1"), str(tmp_path / "cam2")]
    else:
        inputs = [str(tmp_path / "cam1")]
    items, problems = collect_images(inputs)
    assert len(problems) == 1, label
    escaped = label == "an undecodable byte and its escaped spelling"
    advice = ("one of the two names is not UTF-8 (its bytes shown as \\xNN) and the other is "
              "written with those very characters; rename one" if escaped else
              "give the folder above both, or run them into separate -o folders")
    assert problems[0].message.endswith(advice), label
    assert problems[0].message.startswith(problems[0].input + ": goes by the name ")
    assert len({i.rel for i in items}) == len(items), label
    if label.startswith("one name"):
        assert rels(items) == ["a.jpg", "z.jpg"]
        assert problems[0].input == str(tmp_path / "cam2" / "a.jpg")
        assert str(tmp_path / "cam1" / "a.jpg") in problems[0].message


def test_stdin_list(tree):
    stdin = io.StringIO(f"{tree / 'b.jpg'}\r\n\n   \n{tree / 'sub'}\n{tree / 'nope.png'}")
    items, problems = collect_images(["-"], stdin=stdin)
    assert rels(items) == [str(tree / "b.jpg"), "cam1/x.jpg", "deep/y.webp", "z.jpeg"]
    assert len(problems) == 1 and "nope.png" in problems[0].message


@pytest.mark.parametrize("label, prefix", [
    ("a byte-order mark first (a list a Windows tool wrote)", b"\xef\xbb\xbf"),
    ("no mark", b""),
])
def test_stdin_read_as_bytes_whatever_the_locale(tmp_path, label, prefix):
    """A strict UTF-8 text stream (the usual desktop locale) raised UnicodeDecodeError on a
    name that is not UTF-8; names are read as the file system's bytes instead."""
    odd = os.path.join(os.fsencode(tmp_path), b"caf\xff.jpg")
    with open(odd, "wb") as f:
        f.write(b"")
    touch(tmp_path, "a.jpg")
    plain = tmp_path / "a.jpg"
    data = prefix + odd + b"\r\n" + os.fsencode(plain) + b"\n"
    stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="strict")
    items, problems = collect_images(["-"], stdin=stdin)
    assert problems == [], label
    assert [os.fsencode(i.path) for i in items] == [odd, os.fsencode(plain)], label


def test_stdin_mixed_with_args(tree):
    stdin = io.StringIO(f"{tree / 'a.PNG'}\n")
    items, _ = collect_images([str(tree / "b.jpg"), "-"], stdin=stdin)
    assert [i.path.name for i in items] == ["b.jpg", "a.PNG"]


def test_names_with_spaces_and_unicode(tmp_path):
    touch(tmp_path, "dír one/ä b.jpg")
    items, problems = collect_images([str(tmp_path)])
    assert rels(items) == ["dír one/ä b.jpg"] and problems == []
    stdin = io.StringIO(str(tmp_path / "dír one" / "ä b.jpg") + "\n")
    items, _ = collect_images(["-"], stdin=stdin)
    assert items[0].path.is_file()


@pytest.mark.parametrize(
    "pattern,expected",
    [
        ("*.jpg", ["b.jpg", "cam1/top.jpg", "sub/cam1/x.jpg"]),
        ("*.PNG", ["a.PNG"]),
        ("**/cam1/*.jpg", ["cam1/top.jpg", "sub/cam1/x.jpg"]),
        ("cam1/*.jpg", ["cam1/top.jpg"]),
        ("sub/*", ["sub/z.jpeg"]),
        ("sub/**", ["sub/cam1/x.jpg", "sub/deep/y.webp", "sub/z.jpeg"]),
        ("a*/*", ["a/o.bmp", "a/p.tiff", "a-b/q.tif"]),
        ("[ab].*", ["a.PNG", "b.jpg"]),
        ("[!ab]*.jpg", ["cam1/top.jpg", "sub/cam1/x.jpg"]),
        ("?.jpg", ["b.jpg", "sub/cam1/x.jpg"]),
        ("nothing*", []),
    ],
)
def test_glob(tree, pattern, expected):
    items, problems = collect_images([str(tree)], glob=pattern)
    assert rels(items) == expected
    assert problems == []


def test_glob_does_not_filter_lone_files(tree):
    items, _ = collect_images([str(tree / "b.jpg")], glob="*.png")
    assert len(items) == 1


def test_compile_glob_details():
    m = compile_glob("**/x/*.jpg")
    assert m("x/a.jpg") and m("p/q/x/a.jpg") and not m("x/y/a.jpg") and not m("xx/a.jpg")
    assert compile_glob("./cam1/*.jpg")("cam1/a.jpg")
    assert compile_glob("a[.]b")("a.b") and not compile_glob("a[.]b")("axb")
    assert compile_glob("*.jpg")("deep/in/a.jpg")


@pytest.mark.parametrize("pattern", ["[z-a].png", "cam/[9-0]*.jpg"])
def test_a_glob_no_rule_can_read_is_a_config_error(pattern):
    with pytest.raises(ConfigError, match=r"--glob .*bad character range"):
        compile_glob(pattern)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")
def test_symlink_loop_and_links_followed(tmp_path):
    root = tmp_path / "r"
    touch(root, "a/img.jpg", "other/o.png")
    touch(tmp_path, "ext/e.jpg")
    os.symlink(root, root / "a" / "loop")             # loop back to the root
    os.symlink(root / "other", root / "a" / "alias")  # a second way into other/
    os.symlink(tmp_path / "ext", root / "a" / "ext")  # a folder outside the root
    os.symlink(root / "other" / "o.png", root / "file_link.png")
    os.symlink(root / "missing.png", root / "broken.png")
    os.symlink(root / "missing.txt", root / "broken.txt")  # not an image name: not looked at
    items, problems = collect_images([str(root)])
    assert [p.message for p in problems] == [
        f"{root / 'broken.png'}: broken symbolic link (its target {root / 'missing.png'} is gone)"]
    assert collect_images([str(root)], glob="*.jpg")[1] == []  # a glob leaving it out
    # other/ is reached (and marked) from the root before a/alias; file_link.png and
    # other/o.png are the same file: the first in sorted order is kept.
    assert rels(items) == ["a/ext/e.jpg", "a/img.jpg", "file_link.png"]
    assert items[0].path == root / "a" / "ext" / "e.jpg"


def _dangling(d: Path) -> None:
    os.symlink("gone.png", d / "x.png")


def _loop(d: Path) -> None:
    os.symlink("y.png", d / "x.png")
    os.symlink("x.png", d / "y.png")


def _self_loop(d: Path) -> None:
    os.symlink("x.png", d / "x.png")


def _into_loop(d: Path) -> None:  # a link to a link loop, outside the folder walked
    os.symlink("l2", d.parent / "l1")
    os.symlink("l1", d.parent / "l2")
    os.symlink(d.parent / "l1", d / "x.png")


# (make the links in folder d, the links looked at, the message each gives)
NEVER = "following the links never reaches a file or folder"
LINKS_NOT_FOLLOWED = [
    pytest.param(_dangling, {"x.png": "broken symbolic link (its target gone.png is gone)"},
                 id="dangling"),
    pytest.param(_loop, {"x.png": f"symbolic link loop (it points to y.png; {NEVER})",
                         "y.png": f"symbolic link loop (it points to x.png; {NEVER})"},
                 id="loop"),
    pytest.param(_self_loop, {"x.png": f"symbolic link loop (it points to x.png; {NEVER})"},
                 id="self-loop"),
    pytest.param(_into_loop, {"x.png": f"symbolic link loop (it points to {{d}}/l1; {NEVER})"},
                 id="into-loop"),
]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")
@pytest.mark.parametrize("make, messages", LINKS_NOT_FOLLOWED)
def test_link_that_cannot_be_followed_is_a_problem(tmp_path, make, messages):
    """A link with an image's name that leads nowhere (its target gone, a loop), in a folder
    or named directly, is a problem naming it, like any bad input; the rest is read."""
    d = tmp_path / "in"
    touch(d, "a.jpg")
    make(d)
    os.symlink("loop.txt", d / "loop.txt")  # not an image name: not looked at
    os.symlink("sub", d / "sub")             # a folder name that loops: nothing to read
    expected = [f"{d / name}: {text.format(d=tmp_path)}" for name, text in messages.items()]
    items, problems = collect_images([str(d)])
    assert rels(items) == ["a.jpg"]
    assert [p.message for p in problems] == expected
    assert [p.input for p in problems] == [str(d / name) for name in messages]
    # the key each would have as an input: its outputs and manifest line are under it
    assert [p.key for p in problems] == list(messages)
    assert collect_images([str(d)], glob="*.jpg") == (items, [])  # a glob leaving them out
    for name, text in messages.items():
        assert collect_images([str(d / name)]) == (
            [], [Problem(str(d / name), f"{d / name}: {text.format(d=tmp_path)}",
                         str(d / name))])


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads anything")
def test_link_into_a_folder_not_to_be_looked_at(tmp_path):
    touch(tmp_path, "in/a.jpg", "locked/b.jpg")
    os.symlink(tmp_path / "locked" / "b.jpg", tmp_path / "in" / "b.jpg")
    (tmp_path / "locked").chmod(0)
    try:
        items, problems = collect_images([str(tmp_path / "in")])
    finally:
        (tmp_path / "locked").chmod(0o755)
    assert rels(items) == ["a.jpg"]
    assert [p.message for p in problems] == [
        f"{tmp_path}/in/b.jpg: symbolic link to {tmp_path}/locked/b.jpg cannot be followed: "
        "Permission denied"]


def test_hidden_root_given_explicitly(tmp_path):
    touch(tmp_path, ".hid/a.jpg")
    items, _ = collect_images([str(tmp_path / ".hid")])
    assert rels(items) == ["a.jpg"]


def test_empty_and_nothing_found(tmp_path):
    (tmp_path / "empty").mkdir()
    assert collect_images([str(tmp_path / "empty")]) == ([], [])
    assert collect_images([]) == ([], [])


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads anything")
def test_unreadable_subfolder(tmp_path):
    touch(tmp_path, "ok/a.jpg", "locked/b.jpg")
    (tmp_path / "locked").chmod(0)
    try:
        items, problems = collect_images([str(tmp_path)])
    finally:
        (tmp_path / "locked").chmod(0o755)
    assert rels(items) == ["ok/a.jpg"]
    assert len(problems) == 1 and "locked" in problems[0].message


def test_not_regular_file(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no fifo")
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    items, problems = collect_images([str(fifo)])
    assert items == [] and "not a regular file" in problems[0].message


def test_deterministic_repeat(tree):
    assert collect_images([str(tree)]) == collect_images([str(tree)])
