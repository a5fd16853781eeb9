"""The shipped models' table and loader (lm_course.reference), the GPT recipe
(lm_course.recipes) and the one checkpoint format (lm_course.checkpoints)."""

import json
from dataclasses import asdict

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from lm_course.checkpoints import CheckpointError, load_model, read_header, save_model
from lm_course.gpt import GPT, GPTConfig
from lm_course.recipes import GPT_RECIPE as RECIPE
from lm_course.reference import SHIPPED, load_reference, reference_info, reference_path
from lm_course.corpus import corpus_tokenizer
from lm_course.tokenizers import CharTokenizer
from lm_course.train import TrainConfig


@pytest.fixture()
def tiny(tmp_path):
    torch.manual_seed(0)
    tok = CharTokenizer("abcdefg \n")
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=8, n_layer=1, n_head=2, n_embd=8)).eval()
    path = save_model(model, tmp_path / "gpt.safetensors", {"val_bpc": 3.0}, dtype=torch.float16, tokenizer=tok)
    return model, tok, path


def test_round_trip_in_float16(tiny):
    model, tok, path = tiny
    loaded, record = load_model(path)
    assert record["tokenizer"]["chars"] == "".join(tok.chars) and loaded.config == model.config
    assert not loaded.training and loaded.transformer.wte.weight.dtype == torch.float32
    assert loaded.lm_head.weight is loaded.transformer.wte.weight  # still tied
    for k, v in model.state_dict().items():  # float16 storage: ~3 significant digits
        assert torch.allclose(loaded.state_dict()[k], v.half().float())
    assert read_header(path)["val_bpc"] == 3.0
    with safe_open(str(path), framework="pt") as f:
        names = list(f.keys())
        assert f.get_tensor(names[0]).dtype == torch.float16
    assert ("lm_head.weight" in names) != ("transformer.wte.weight" in names)  # the tied pair is stored once


def _rewrite(path, **meta_changes):
    with safe_open(str(path), framework="pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    for key, value in meta_changes.items():
        meta[key] = value if isinstance(value, str) else json.dumps(value)
    save_file(tensors, str(path), metadata=meta)


def test_config_mismatch_is_a_clear_error(tiny):
    _, _, path = tiny
    config = read_header(path)["config"]
    for change, message in (({"n_embd": 16}, "shape mismatch"), ({"n_layer": 2}, "does not fit"),
                            ({"vocab_size": 12}, "tokenizer"), ({"n_head": 3}, "invalid GPT config")):
        _rewrite(path, config={**config, **change})
        with pytest.raises(CheckpointError, match=message):
            load_model(path)


def test_another_kind_of_file_or_no_file_are_clear_errors(tiny, tmp_path):
    _, _, path = tiny
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.safetensors")
    with pytest.raises(ValueError, match="no shipped model is called 'gtp'"):
        load_reference("gtp")
    _rewrite(path, format="lm_course.mlp")
    with pytest.raises(CheckpointError, match="format"):
        load_model(path, "lm_course.gpt")
    with pytest.raises(ValueError, match="tokenizer has"):
        save_model(GPT(GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=1, n_embd=4)),
                   tmp_path / "x.safetensors", tokenizer=CharTokenizer("abc"))


def test_the_recipe_maps_onto_the_training_loop():
    cfg = RECIPE.train_config(progress=False)
    assert isinstance(cfg, TrainConfig)
    for name in ("steps", "batch_size", "block_size", "lr", "warmup_steps", "min_lr_ratio", "weight_decay",
                 "eval_interval", "seed", "autocast"):
        assert getattr(cfg, name) == getattr(RECIPE, name)
    assert RECIPE.gpt_config(63).block_size == RECIPE.block_size == cfg.block_size


# ---- the shipped checkpoint (lm_course/shipped_data/reference_gpt.safetensors) ---------------------
@pytest.mark.parametrize("small", [False, True], ids=["reference", "small"])
def test_the_shipped_checkpoints_load_and_give_their_documented_scores(one_thread, small):
    from lm_course.data import load_shakespeare
    from lm_course.evaluate import bits_per_token
    name = "gpt-small" if small else "gpt"
    model, info = load_reference(name)
    tok = CharTokenizer(info["tokenizer"]["chars"])
    assert info == reference_info(name)  # the header alone, no model built
    # the command re-makes this file (the small file predates one recipe field; see test_recipes.ADDED_SINCE)
    added_since = {"attn_dropout": None} if small else {}
    assert {**info["recipe"], **added_since} == asdict(SHIPPED[name].recipe)
    assert info["command"] == "python -m lm_course make-reference " + ("gpt-small" if small else "gpt")
    assert tok.chars == corpus_tokenizer().chars
    assert model.config == GPTConfig(**info["config"]) and model.num_parameters() == info["parameters"]
    assert model.lm_head.weight is model.transformer.wte.weight
    # the whole validation split takes ~20 s; the documented first 20,000 characters are
    # scored by the same code, with the same windows
    ids = tok.encode(load_shakespeare("val"))[: info["val_prefix_chars"]]
    assert bits_per_token(model, ids) == pytest.approx(info["val_prefix_bpc"], abs=1e-3)
    assert reference_path(name).stat().st_size < 10e6


def test_the_scoreboard_holds_the_documented_numbers():
    from lm_course.data import data_dir
    from lm_course.reference import SCOREBOARD_NAME
    from lm_course.scoreboard import reference_entry

    info = reference_info("gpt")
    entry = reference_entry(SCOREBOARD_NAME)
    assert entry is not None and entry.chapter == 5
    assert entry.val == pytest.approx(info["val_bpc"], abs=1e-6)
    assert entry.test == pytest.approx(info["test_bpc"], abs=1e-6)
    committed = json.loads((data_dir() / "scoreboard.json").read_text(encoding="utf-8"))
    assert min(committed, key=lambda e: e["val"])["name"] == SCOREBOARD_NAME  # the best model of the course
