"""samcli.loader: options checked before any work, the identity the manifest hashes, and
weights loaded only on first use."""

from __future__ import annotations

import pytest

from samcli.config import ModelOptions
from samcli.errors import CheckpointError, ConfigError
from samcli.loader import ModelLoader


@pytest.mark.parametrize(
    "label, dtype, decoder, key, products",
    [
        ("default", "auto", "auto", None, None),
        ("decoder as the encoder", "bfloat16", "bfloat16", None, None),
        ("decoder auto: mixed after bfloat16 on the CPU", "bfloat16", "auto", "float32",
         "bfloat16"),
        ("float32 decoder after bfloat16", "bfloat16", "float32", "float32", None),
        ("bfloat16 decoder after float32", "float32", "bfloat16", "bfloat16", None),
        ("mixed decoder after float32", "float32", "mixed", None, "bfloat16"),
    ],
)
def test_decoder_dtype_in_the_weights_identity(label, dtype, decoder, key, products):
    """A decoder precision other than the encoder's changes the manifest hash (outputs
    differ); the same precision leaves the identity, so earlier runs resume."""
    lazy = ModelLoader(ModelOptions(device="cpu", dtype=dtype, decoder_dtype=decoder))
    assert lazy.identity.get("decoder_dtype") == key, label
    assert lazy.identity.get("decoder_products") == products, label
    assert lazy.identity["dtype"] == dtype, label


@pytest.mark.parametrize("label, opts, error", [
    ("missing checkpoint", ModelOptions(checkpoint="/nonexistent/sam.pth"), CheckpointError),
    ("unknown device", ModelOptions(device="tpu"), ConfigError),
    ("float16 on the CPU", ModelOptions(device="cpu", dtype="float16"), ConfigError),
])
def test_bad_options_fail_when_made(label, opts, error):
    with pytest.raises(error):
        ModelLoader(opts)


def test_weights_are_loaded_on_first_use_only(monkeypatch, mobile_ckpt):
    """Making the loader reads no weights; get() loads them once."""
    import samcli.model.loading as registry

    calls = []
    real = registry.load_model
    monkeypatch.setattr(registry, "load_model", lambda *a, **k: calls.append(1) or real(*a, **k))
    loader = ModelLoader(ModelOptions(model="mobile_sam", checkpoint=str(mobile_ckpt),
                                      device="cpu"))
    assert calls == []
    first = loader.get()
    assert loader.get() is first and calls == [1]
