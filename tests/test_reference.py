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
    config = load_reference_info(path)["config"]
    for change, message in (({"n_embd": 16}, "shapes do not match"), ({"n_layer": 2}, "missing"),
                            ({"vocab_size": 12}, "tokenizer"), ({"n_head": 3}, "invalid GPT config")):
        _edit_json(path, config={**config, **change})
        with pytest.raises(ReferenceCheckpointError, match=message):
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


# ---- the shipped checkpoint (data/reference_gpt.*) ------------------------------
def test_the_shipped_checkpoint_loads_and_gives_its_documented_score(one_thread):
    from lm_course.data import load_shakespeare
    from lm_course.evaluate import bits_per_token
    from lm_course.gpt import load_reference_model as exported

    model, tok = exported()  # the public name in lm_course.gpt
    info = load_reference_info()
    assert tok.chars == corpus_tokenizer().chars
    assert model.config == GPTConfig(**info["config"]) and model.num_parameters() == info["parameters"]
    assert model.lm_head.weight is model.transformer.wte.weight
    # the whole validation split takes ~20 s; the documented first 20,000 characters are
    # scored by the same code, with the same windows
    ids = tok.encode(load_shakespeare("val"))[: info["val_prefix_chars"]]
    assert bits_per_token(model, ids) == pytest.approx(info["val_prefix_bpc"], abs=1e-3)
    weights, _ = reference_paths()
    assert weights.stat().st_size < 5e6  # a few MB


def test_the_scoreboard_holds_the_documented_numbers():
    from lm_course.data import data_dir
    from lm_course.reference import SCOREBOARD_NAME
    from lm_course.scoreboard import reference_entry

    info = load_reference_info()
    entry = reference_entry(SCOREBOARD_NAME)
    assert entry is not None and entry.chapter == 5
    assert entry.val == pytest.approx(info["val_bpc"], abs=1e-6)
    assert entry.test == pytest.approx(info["test_bpc"], abs=1e-6)
    committed = json.loads((data_dir() / "scoreboard.json").read_text(encoding="utf-8"))
    assert min(committed, key=lambda e: e["val"])["name"] == SCOREBOARD_NAME  # the best model of the course
