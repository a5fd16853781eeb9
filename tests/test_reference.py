"""The reference checkpoint (lm_course.reference) and its loader."""

import json

import pytest
import torch

from lm_course.gpt import GPT, GPTConfig
from lm_course.reference import (
    ReferenceCheckpointError,
    load_reference_info,
    load_reference_model,
    reference_paths,
    save_reference,
)
from lm_course.tokenizers import CharTokenizer, corpus_tokenizer


@pytest.fixture()
def tiny(tmp_path):
    torch.manual_seed(0)
    tok = CharTokenizer("abcdefg \n")
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=8, n_layer=1, n_head=2, n_embd=8)).eval()
    save_reference(model, tok, {"val_bpc": 3.0}, tmp_path)
    return model, tok, tmp_path


def test_round_trip_in_float16(tiny):
    model, tok, path = tiny
    loaded, tok2 = load_reference_model(path)
    assert tok2.chars == tok.chars and loaded.config == model.config
    assert not loaded.training and loaded.transformer.wte.weight.dtype == torch.float32
    assert loaded.lm_head.weight is loaded.transformer.wte.weight  # still tied
    for k, v in model.state_dict().items():  # float16 storage: ~3 significant digits
        assert torch.allclose(loaded.state_dict()[k], v.half().float())
    assert load_reference_info(path)["val_bpc"] == 3.0
    weights, _ = reference_paths(path)
    from safetensors import safe_open

    with safe_open(str(weights), framework="pt") as f:
        assert "lm_head.weight" not in f.keys()  # the tied head is stored once


def _edit_json(path, **changes):
    _, meta = reference_paths(path)
    info = json.loads(meta.read_text())
    for key, value in changes.items():
        info[key] = value
    meta.write_text(json.dumps(info))


def test_config_mismatch_is_a_clear_error(tiny):
    _, _, path = tiny
    info = load_reference_info(path)
    _edit_json(path, config={**info["config"], "n_embd": 16})
    with pytest.raises(ReferenceCheckpointError, match="shapes do not match"):
        load_reference_model(path)
    _edit_json(path, config={**info["config"], "n_layer": 2})
    with pytest.raises(ReferenceCheckpointError, match="missing"):
        load_reference_model(path)
    _edit_json(path, config={**info["config"], "vocab_size": 12})
    with pytest.raises(ReferenceCheckpointError, match="tokenizer"):
        load_reference_model(path)
    _edit_json(path, config={**info["config"], "n_head": 3})
    with pytest.raises(ReferenceCheckpointError, match="invalid GPT config"):
        load_reference_model(path)


def test_other_weights_or_no_files_are_clear_errors(tiny, tmp_path_factory):
    model, tok, path = tiny
    other = tmp_path_factory.mktemp("other")
    torch.manual_seed(1)
    save_reference(GPT(model.config), tok, {}, other)
    reference_paths(other)[0].replace(reference_paths(path)[0])  # weights of another run
    with pytest.raises(ReferenceCheckpointError, match="sha256"):
        load_reference_model(path)
    with pytest.raises(ReferenceCheckpointError, match="python -m lm_course.reference"):
        load_reference_model(tmp_path_factory.mktemp("empty"))
    _edit_json(path, format="something else")
    with pytest.raises(ReferenceCheckpointError, match="format"):
        load_reference_model(path)
