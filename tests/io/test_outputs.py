"""samcli.io.outputs: output paths never escape their folder."""

from __future__ import annotations

import pytest

from samcli.errors import InputError
from samcli.io.outputs import output_relpath


def test_output_relpath_never_escapes():
    assert output_relpath("sub/dir/a.jpg").as_posix() == "sub/dir/a.jpg"
    assert output_relpath("/abs/a.jpg").as_posix() == "abs/a.jpg"
    assert output_relpath("../up/./a.jpg").as_posix() == "__/up/a.jpg"
    with pytest.raises(InputError):
        output_relpath("/")
