"""samcli.fs: atomic writes."""

from __future__ import annotations

import pytest

from samcli.fs import atomic_write_bytes, atomic_write_text
from tests.io.helpers import files


def test_atomic_write_leaves_no_temp_file(tmp_path):
    p = atomic_write_text(tmp_path / "sub" / "f.json", "hello")
    assert p.read_text() == "hello"
    atomic_write_bytes(p, b"again")
    assert p.read_bytes() == b"again"
    with pytest.raises(TypeError):
        atomic_write_bytes(p, "not bytes")  # fails mid-write
    assert p.read_bytes() == b"again"  # the old file is intact
    assert files(tmp_path) == ["sub/f.json"]
