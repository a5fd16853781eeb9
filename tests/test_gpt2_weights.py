"""Loading Hugging Face GPT-2 weights into the course's GPT, offline.

The proof of equality: a randomly initialised ``transformers.GPT2LMHeadModel``
saved with ``save_pretrained`` loads into ``GPT.from_pretrained`` and gives
the same logits (to 1e-4), the same greedy tokens and the same beam-search
tokens as ``transformers``' ``generate``.
"""

from __future__ import annotations

import copy
import json
import time

import pytest
import torch
from safetensors.torch import load_file, save_file

from lm_course.gpt import GPT, GPTConfig
from lm_course.gpt_decoding import bfloat16_copy
from lm_course.gpt2_weights import GPT2WeightsUnavailable, as_transformers, save_hf_gpt2
from lm_course.sampling import beam_search, generate


@pytest.fixture(scope="module", autouse=True)
def offline_and_one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    mp = pytest.MonkeyPatch()
    mp.setenv("HF_HUB_OFFLINE", "1")
    yield
    mp.undo()
    torch.set_num_threads(threads)


def hf_gpt2(**overrides):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    kwargs = dict(vocab_size=101, n_positions=48, n_embd=48, n_layer=3, n_head=4,
                  initializer_range=0.3,  # peaked distributions, so a wrong weight changes the tokens
                  bos_token_id=None, eos_token_id=None, pad_token_id=None)
    return GPT2LMHeadModel(GPT2Config(**(kwargs | overrides))).eval()


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    """(transformers model, directory written by its save_pretrained)."""
    hf = hf_gpt2()
    directory = tmp_path_factory.mktemp("hf_gpt2")
    hf.save_pretrained(directory)
    return hf, directory


def copy_checkpoint(src, dst, edit_config=None, edit_tensors=None):
    dst.mkdir(parents=True, exist_ok=True)
    config = json.loads((src / "config.json").read_text())
    tensors = load_file(src / "model.safetensors")
    if edit_config:
        edit_config(config)
    if edit_tensors:
        tensors = edit_tensors(tensors)
    (dst / "config.json").write_text(json.dumps(config))
    save_file(tensors, dst / "model.safetensors", metadata={"format": "pt"})
    return dst


# ---- the proof of equality ------------------------------------------------

def test_logits_and_generation_equal_transformers(hf_dir):
    hf, directory = hf_dir
    model = GPT.from_pretrained(directory)
    assert isinstance(model, GPT) and not model.training
    assert model.config == GPTConfig(vocab_size=101, block_size=48, n_layer=3, n_head=4, n_embd=48)
    assert model.lm_head.weight is model.transformer.wte.weight  # still tied
    idx = torch.randint(0, 101, (3, 20), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        theirs, ours = hf(idx).logits, model(idx).logits  # (B, T, V)
    assert (theirs - ours).abs().max() < 1e-4
    mask = torch.ones_like(idx)
    greedy = hf.generate(idx, attention_mask=mask, max_new_tokens=25, do_sample=False, pad_token_id=0)
    assert torch.equal(generate(model, idx, 25), greedy)
    assert torch.equal(generate(model, idx, 25, use_cache=False), greedy)
    penalised = hf.generate(idx, attention_mask=mask, max_new_tokens=25, do_sample=False, pad_token_id=0,
                            repetition_penalty=1.3)
    assert torch.equal(generate(model, idx, 25, repetition_penalty=1.3), penalised)
    beams = hf.generate(idx, attention_mask=mask, max_new_tokens=15, do_sample=False, num_beams=4,
                        pad_token_id=0)
    assert torch.equal(beam_search(model, idx, 15, num_beams=4), beams)


def test_conv1d_weights_keep_gpt2s_storage(hf_dir):
    """Fast-decoding step 4: each block matrix is nn.Linear's (out, in) shape over GPT-2's own (in, out)
    storage (a transposed view, no copy), with the checkpoint's numbers; a copy keeps it; bfloat16_copy (step 3)
    stores nn.Linear's own layout instead, tied weights still tied."""
    hf, directory = hf_dir
    model = GPT.from_pretrained(directory)
    for block, theirs in zip(model.transformer.h, hf.transformer.h):
        for ours, conv in [(block.attn.c_attn, theirs.attn.c_attn), (block.attn.c_proj, theirs.attn.c_proj),
                           (block.mlp.c_fc, theirs.mlp.c_fc), (block.mlp.c_proj, theirs.mlp.c_proj)]:
            assert ours.weight.shape == conv.weight.t().shape  # (out, in)
            assert ours.weight.t().is_contiguous() and not ours.weight.is_contiguous()  # stored (in, out)
            assert torch.equal(ours.weight.t(), conv.weight)
    assert model.transformer.wte.weight.is_contiguous()  # the embedding (and tied head) as stored
    assert copy.deepcopy(model).transformer.h[0].mlp.c_proj.weight.t().is_contiguous()
    half = bfloat16_copy(model)
    for block, ours in zip(half.transformer.h, model.transformer.h):
        for linear in (block.attn.c_attn, block.attn.c_proj, block.mlp.c_fc, block.mlp.c_proj):
            assert linear.weight.dtype == torch.bfloat16 and linear.weight.is_contiguous()
        assert torch.equal(block.mlp.c_fc.weight, ours.mlp.c_fc.weight.to(torch.bfloat16))
    assert half.lm_head.weight is half.transformer.wte.weight
    assert model.transformer.h[0].attn.c_attn.weight.t().is_contiguous()  # the original untouched


def test_as_transformers_shares_the_tensors(hf_dir):
    hf_original, directory = hf_dir
    model = GPT.from_pretrained(directory)
    hf = as_transformers(model)
    assert type(hf).__name__ == "GPT2LMHeadModel" and not hf.training
    assert hf.lm_head.weight is hf.transformer.wte.weight  # still tied
    block, theirs = model.transformer.h[1], hf.transformer.h[1]
    for ours, hf_weight in [(model.transformer.wte.weight, hf.transformer.wte.weight),
                            (block.attn.c_attn.weight, theirs.attn.c_attn.weight),
                            (block.mlp.c_proj.weight, theirs.mlp.c_proj.weight)]:
        assert ours.data_ptr() == hf_weight.data_ptr()  # the same memory, not a copy
    assert torch.equal(theirs.attn.c_attn.weight, block.attn.c_attn.weight.t())  # seen as Conv1D's (in, out)
    idx = torch.randint(0, 101, (2, 20), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(hf(idx).logits, hf_original(idx).logits)  # transformers' own numbers
    mask = torch.ones_like(idx)
    greedy = hf.generate(idx, attention_mask=mask, max_new_tokens=20, do_sample=False, pad_token_id=0)
    assert torch.equal(generate(model, idx, 20), greedy)
    with torch.no_grad():  # one set of weights: changing one model changes the other
        model.transformer.h[0].mlp.c_fc.weight.zero_()
        assert not hf.transformer.h[0].mlp.c_fc.weight.any()


def test_as_transformers_refuses_other_models():
    with pytest.raises(TypeError, match="course GPT"):
        as_transformers(torch.nn.Linear(2, 2))


def test_the_equality_test_can_fail(hf_dir, tmp_path):
    """Without the Conv1D transpose the logits differ: the check has teeth."""
    hf, directory = hf_dir

    def untransposed(tensors):  # c_proj of attention is square, so only its values are wrong
        return {k: (v.t().contiguous() if k.endswith("attn.c_proj.weight") else v) for k, v in tensors.items()}

    broken = GPT.from_pretrained(copy_checkpoint(directory, tmp_path / "broken", edit_tensors=untransposed))
    idx = torch.randint(0, 101, (1, 10))
    with torch.no_grad():
        assert (hf(idx).logits - broken(idx).logits).abs().max() > 1e-3


def test_original_openai_layout_loads(hf_dir, tmp_path):
    """The hub's gpt2 checkpoint has no "transformer." prefix and stores the old
    causal-mask buffers ``h.N.attn.bias``; both are handled."""
    hf, directory = hf_dir

    def openai_layout(tensors):
        out = {k.removeprefix("transformer."): v for k, v in tensors.items()}
        for i in range(3):
            out[f"h.{i}.attn.bias"] = torch.tril(torch.ones(1, 1, 48, 48))
        out["lm_head.weight"] = out["wte.weight"].clone()  # an explicit, equal (tied) head
        return out

    model = GPT.from_pretrained(copy_checkpoint(directory, tmp_path / "openai", edit_tensors=openai_layout))
    idx = torch.randint(0, 101, (2, 9))
    with torch.no_grad():
        assert (hf(idx).logits - model(idx).logits).abs().max() < 1e-4


def test_export_round_trip(tmp_path):
    from transformers import GPT2LMHeadModel

    torch.manual_seed(1)
    ours = GPT(GPTConfig(vocab_size=63, block_size=32, n_layer=2, n_head=2, n_embd=32)).eval()
    save_hf_gpt2(ours, tmp_path / "export")
    theirs = GPT2LMHeadModel.from_pretrained(tmp_path / "export").eval()
    back = GPT.from_pretrained(tmp_path / "export")
    idx = torch.randint(0, 63, (2, 12))
    with torch.no_grad():
        assert (theirs(idx).logits - ours(idx).logits).abs().max() < 1e-4
        assert torch.equal(back(idx).logits, ours(idx).logits)
    with pytest.raises(ValueError, match="bias"):
        save_hf_gpt2(GPT(GPTConfig(63, 8, 1, 1, 8, bias=False)), tmp_path / "nobias")


# ---- clear errors ------------------------------------------------------------

def test_not_gpt2(hf_dir, tmp_path):
    _, directory = hf_dir
    bert = copy_checkpoint(directory, tmp_path / "bert", edit_config=lambda c: c.update(model_type="bert"))
    with pytest.raises(ValueError, match="'bert' model, not GPT-2"):
        GPT.from_pretrained(bert)
    relu = copy_checkpoint(directory, tmp_path / "relu", edit_config=lambda c: c.update(activation_function="relu"))
    with pytest.raises(ValueError, match="activation_function='relu'"):
        GPT.from_pretrained(relu)


def test_shape_mismatch(hf_dir, tmp_path):
    _, directory = hf_dir
    wide = copy_checkpoint(directory, tmp_path / "wide", edit_config=lambda c: c.update(n_embd=64))
    with pytest.raises(ValueError, match=r"c_attn.bias has shape \(144,\) but the model built from "
                                         r"config.json expects \(192,\)"):
        GPT.from_pretrained(wide)


def test_missing_and_extra_tensors(hf_dir, tmp_path):
    _, directory = hf_dir
    deep = copy_checkpoint(directory, tmp_path / "deep", edit_config=lambda c: c.update(n_layer=4))
    with pytest.raises(ValueError, match="lacks 12 tensor"):
        GPT.from_pretrained(deep)
    extra = copy_checkpoint(directory, tmp_path / "extra",
                            edit_tensors=lambda t: t | {"transformer.h.0.adapter.weight": torch.zeros(2)})
    with pytest.raises(ValueError, match="unexpected tensor"):
        GPT.from_pretrained(extra)
    untied = copy_checkpoint(directory, tmp_path / "untied",
                             edit_tensors=lambda t: t | {"lm_head.weight": torch.randn(101, 48)})
    with pytest.raises(ValueError, match="ties them"):
        GPT.from_pretrained(untied)


def test_missing_files(hf_dir, tmp_path):
    _, directory = hf_dir
    with pytest.raises(FileNotFoundError, match="no config.json"):
        GPT.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text((directory / "config.json").read_text())
    with pytest.raises(FileNotFoundError, match="no model.safetensors"):
        GPT.from_pretrained(tmp_path)
    (tmp_path / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(FileNotFoundError, match="pickled pytorch_model.bin"):
        GPT.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="is a file"):
        GPT.from_pretrained(tmp_path / "config.json")
    with pytest.raises(FileNotFoundError, match="no directory"):
        GPT.from_pretrained(tmp_path / "nowhere")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text("{not json")
    (tmp_path / "bad" / "model.safetensors").write_bytes(b"")
    with pytest.raises(ValueError, match="not valid JSON"):
        GPT.from_pretrained(tmp_path / "bad")


# ---- the hub, offline --------------------------------------------------------

@pytest.fixture()
def empty_hub_cache(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    return tmp_path / "hub"


def test_offline_hub_name_fails_fast(empty_hub_cache, monkeypatch):
    start = time.perf_counter()
    with pytest.raises(GPT2WeightsUnavailable, match="python -m lm_course download gpt2"):
        GPT.from_pretrained("gpt2")
    assert time.perf_counter() - start < 5
    monkeypatch.delenv("HF_HUB_OFFLINE")  # "online", but the hub is unreachable: still fast
    monkeypatch.setattr("lm_course.hub.hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(GPT2WeightsUnavailable, match="cannot be reached"):
        GPT.from_pretrained("gpt2-medium")
    assert isinstance(GPT2WeightsUnavailable("x"), OSError)


def test_cached_hub_model_loads_offline(hf_dir, empty_hub_cache):
    """A model in the huggingface_hub cache layout loads with no network."""
    hf, directory = hf_dir
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = empty_hub_cache / "models--gpt2"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        (snapshot / name).write_bytes((directory / name).read_bytes())
    model = GPT.from_pretrained("gpt2")
    idx = torch.randint(0, 101, (1, 7))
    with torch.no_grad():
        assert (hf(idx).logits - model(idx).logits).abs().max() < 1e-4


def test_download_command_offline(capsys):
    from lm_course.__main__ import main

    assert main(["download", "gpt2"]) == 1
    assert "cannot download 'gpt2'" in capsys.readouterr().err
