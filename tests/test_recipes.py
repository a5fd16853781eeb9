"""One pipeline for the shipped models (lm_course.recipes, lm_course.reference):
one recipe type that maps onto TrainConfig and the model's config by name, one
maker, one loader, one command. The recipes must still train exactly as the
field-by-field code they replaced did (its formulas are copied below), and each
shipped file's recorded recipe is its recipe."""

import ast
import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch

from lm_course import __main__ as cli
from lm_course import recipes as recipes_module
from lm_course import reference
from lm_course import train as train_module
from lm_course.corpus import corpus_ids
from lm_course.seeds import seed_everything
from lm_course.evaluate import bits_per_token
from lm_course.gpt import GPT, GPTConfig
from lm_course.mlp import MLPConfig, MLPLanguageModel
from lm_course.recipes import GPT_RECIPE as RECIPE
from lm_course.recipes import GPT_SMALL_RECIPE as SMALL_RECIPE
from lm_course.recipes import LSTM_RECIPE as REFERENCE_RECIPE
from lm_course.recipes import MLP_RECIPE as REFERENCE_MLP_RECIPE
from lm_course.recipes import CharRNNRecipe, MLPRecipe, Recipe, train_recipe
from lm_course.recipes import GPTRecipe as ReferenceRecipe
from lm_course.reference import SHIPPED, make_reference
from lm_course.rnn import RNNConfig, RNNLanguageModel
from lm_course.rnn_training import train_stateful_char_rnn
from lm_course.train import TrainConfig

pytestmark = pytest.mark.usefixtures("one_thread")

ROOT = Path(__file__).resolve().parents[1]
V = 63


# ---- the code the recipes replaced (as of 43172b1), copied --------------------------------
def old_mlp_config(r: MLPRecipe, progress: bool) -> TrainConfig:  # mlp.train_char_mlp
    return TrainConfig(steps=r.steps, batch_size=r.batch_size, block_size=r.block_size, lr=r.lr,
                       weight_decay=r.weight_decay, warmup_steps=r.warmup_steps, min_lr_ratio=r.min_lr_ratio,
                       eval_interval=r.eval_interval, seed=r.seed, progress=progress)


def old_rnn_config(r: CharRNNRecipe, progress: bool) -> TrainConfig:  # rnn.train_char_rnn, rnn_training
    return TrainConfig(steps=r.steps, batch_size=r.batch_size, block_size=r.block_size, lr=r.lr,
                       grad_clip=r.grad_clip, eval_interval=r.eval_interval,
                       warmup_steps=min(100, r.steps // 10), seed=r.seed, progress=progress)


def old_gpt_config(r: ReferenceRecipe, progress: bool) -> TrainConfig:  # ReferenceRecipe.train_config
    known = TrainConfig.__dataclass_fields__
    return TrainConfig(**{k: v for k, v in asdict(r).items() if k in known}, progress=progress, device="cpu")


def old_model(r: Recipe, vocab_size: int) -> torch.nn.Module:
    if isinstance(r, MLPRecipe):
        return MLPLanguageModel(MLPConfig(vocab_size=vocab_size, context_length=r.context_length, n_embd=r.n_embd,
                                          n_hidden=r.n_hidden, dropout=r.dropout),
                               lookup_training=True)  # the old forward always used the look-up tables
    if isinstance(r, CharRNNRecipe):
        return RNNLanguageModel(RNNConfig(vocab_size, r.hidden_size, r.kind, r.num_layers, r.embed_size, r.dropout))
    return GPT(GPTConfig(vocab_size=vocab_size, block_size=r.block_size, n_layer=r.n_layer, n_head=r.n_head,
                         n_embd=r.n_embd, dropout=r.dropout, attn_dropout=r.attn_dropout))  # a field added since


def _literal(node: ast.AST) -> object:
    """A literal, or ``course_seed(k)`` read as ``k`` (the committed run's seed, LM_COURSE_SEED unset)."""
    if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "course_seed":
        return ast.literal_eval(node.args[0]) if node.args else 0
    return ast.literal_eval(node)


def notebook_dict(notebook: str, name: str) -> dict:
    """The literal ``name = dict(...)`` of a notebook's code cells (the overrides it trains with)."""
    cells = json.loads((ROOT / "notebooks" / notebook).read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        if cell["cell_type"] != "code" or f"{name} = dict(" not in "".join(cell["source"]):
            continue
        for node in ast.walk(ast.parse("".join(cell["source"]))):
            if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == [name]:
                return {k.arg: _literal(k.value) for k in node.value.keywords}
    raise AssertionError(f"{notebook} has no `{name} = dict(...)`")


CH03_SMALL = notebook_dict("03_rnns.ipynb", "small")  # train_char_rnn / train_stateful_char_rnn(kind=..., **small)
TINY = {  # the makers' tests below
    "gpt": dict(n_layer=1, n_head=2, n_embd=16, block_size=16, steps=2, batch_size=4, eval_interval=1,
                warmup_steps=1, autocast=None, threads=1),
    "mlp": dict(n_hidden=32, n_embd=8, steps=6, batch_size=4, block_size=16, eval_interval=3, warmup_steps=2),
    "lstm": dict(hidden_size=16, embed_size=8, steps=3, batch_size=4, block_size=16, eval_interval=2),
}
TINY["gpt-small"] = TINY["gpt"]

MLP_CASES = [REFERENCE_MLP_RECIPE, replace(REFERENCE_MLP_RECIPE, **TINY["mlp"]),
             replace(REFERENCE_MLP_RECIPE, n_hidden=512, steps=200)]  # the docstring's example
RNN_CASES = ([REFERENCE_RECIPE, replace(REFERENCE_RECIPE, **TINY["lstm"]),
              replace(REFERENCE_RECIPE, kind="gru", steps=200)]  # the docstring's example
             + [replace(REFERENCE_RECIPE, kind=kind, **CH03_SMALL) for kind in ("rnn", "gru", "lstm")]
             + [replace(REFERENCE_RECIPE, steps=s) for s in (1, 9, 10, 999, 1000, 1001, 20_000)])  # warm-up's bends
GPT_CASES = [RECIPE, SMALL_RECIPE, replace(SMALL_RECIPE, **TINY["gpt"])]


def test_the_notebook_overrides_were_found():
    assert {"steps", "hidden_size", "block_size"} <= set(CH03_SMALL)  # as of 43172b1: 400 steps of 32 x 32


@pytest.mark.parametrize("progress", [False, True])
def test_every_recipe_gives_the_training_config_of_the_old_code(progress):
    for r in MLP_CASES:
        assert r.train_config(progress) == old_mlp_config(r, progress)
    for r in RNN_CASES:
        assert r.train_config(progress) == old_rnn_config(r, progress)
    for r in GPT_CASES:  # the old GPT config said device="cpu"; None means the model's device, the CPU it is built on
        assert r.train_config(progress) == replace(old_gpt_config(r, progress), device=None)
    assert REFERENCE_RECIPE.train_config().warmup_steps == 100  # the shipped LSTM's 4,000 steps


def test_every_recipe_builds_the_model_of_the_old_code():
    for r in [*MLP_CASES[1:], *RNN_CASES[:6], *GPT_CASES, REFERENCE_MLP_RECIPE]:
        seed_everything(r.seed)
        old = old_model(r, V)
        seed_everything(r.seed)
        new = r.build_model(V)
        assert type(new) is type(old) and new.config == old.config
        old_state, new_state = old.state_dict(), new.state_dict()
        assert list(old_state) == list(new_state) and all(torch.equal(old_state[k], new_state[k]) for k in old_state)


def test_a_recipe_maps_only_the_names_a_config_has():
    assert "threads" not in TrainConfig.__dataclass_fields__ and "kind" not in TrainConfig.__dataclass_fields__
    assert SMALL_RECIPE.gpt_config(V) == GPTConfig(vocab_size=V, block_size=128, n_layer=4, n_head=4, n_embd=128)
    with pytest.raises(TypeError):  # the base has no model
        Recipe()
    with pytest.raises(TypeError):  # the LSTM's warm-up is a rule of its recipe, not a field
        replace(REFERENCE_RECIPE, warmup_steps=5)


#: fields added to a recipe after its shipped file was made, and the value the file was made with
RECIPES = {name: shipped.recipe for name, shipped in SHIPPED.items()}
ADDED_SINCE = {"lstm": {"dropout": 0.0}, "gpt-small": {"attn_dropout": None}}


@pytest.mark.parametrize("name", list(RECIPES))
def test_every_shipped_file_records_its_recipe_and_config(name):
    model, record = reference.load_reference(name)
    assert {**record["recipe"], **ADDED_SINCE.get(name, {})} == asdict(RECIPES[name])
    assert model.config == RECIPES[name].build_model(V).config
    assert not model.training and reference.reference_path(name).exists()


def test_load_reference_of_a_missing_file_or_an_unknown_name(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match=r"no shipped model is called 'gpt3'; choose one of \['gpt', 'gpt-small'"):
        reference.load_reference("gpt3")
    with pytest.raises(ValueError, match="no shipped model"):
        make_reference("gpt3", tmp_path / "x.safetensors")
    monkeypatch.setattr(reference, "reference_path", lambda name: tmp_path / f"{name}.safetensors")
    with pytest.raises(FileNotFoundError, match="make-reference lstm"):
        reference.load_reference("lstm")


@pytest.mark.parametrize("name", list(RECIPES))
def test_make_reference_makes_every_shipped_model_shrunk_to_seconds(name, tmp_path, monkeypatch):
    """The one maker, on each shipped recipe with tiny overrides: it returns the file's path and its record,
    the file loads, and the record holds the recipe, the history and the scores of the loaded file."""
    rows = []
    monkeypatch.setattr(reference, "record_score", lambda *args, **kwargs: rows.append((args, kwargs)))
    path, record = make_reference(name, tmp_path / f"{name}.safetensors", progress=False, **TINY[name])
    assert isinstance(path, Path) and path == tmp_path / f"{name}.safetensors" and path.exists()
    recipe = replace(RECIPES[name], **TINY[name])
    loaded, saved = recipe.load(path)
    assert saved["recipe"] == asdict(recipe) == record["recipe"]
    assert {k: v for k, v in saved.items() if k != "tokenizer"} == record
    assert record["command"].startswith(f"lm_course.reference.make_reference({name!r}, **{{")
    assert len(record["history"]["train_loss"]) == recipe.steps
    assert set(record["val_loss_bits_curve"]) == {str(s) for s in record["history"]["eval_steps"]}
    assert 3.0 < record["val_bpc"] < 7.0 and 3.0 < record["test_bpc"] < 7.0  # a few steps: near uniform (5.98)
    assert bits_per_token(loaded, corpus_ids("val")[:record["val_prefix_chars"]]) == pytest.approx(
        record["val_prefix_bpc"], abs=1e-6)
    assert type(loaded) is type(recipe.build_model(V)) and loaded.config == recipe.build_model(V).config
    # only the main reference writes a scoreboard row, and not to the committed board from a temporary path
    assert [(args[0], kwargs["reference"]) for args, kwargs in rows] == ([(reference.SCOREBOARD_NAME, False)]
                                                                         if name == "gpt" else [])


OLD_CONFIG = {MLPRecipe: old_mlp_config, CharRNNRecipe: old_rnn_config, ReferenceRecipe: old_gpt_config}


@pytest.mark.parametrize("name", ["mlp", "lstm", "gpt-small"])
def test_training_a_recipe_gives_the_weights_of_the_old_code(name):
    """Old: set the threads (MLP, GPT), seed, build, train with the field-by-field config. New: train_recipe."""
    from lm_course.train import train

    recipe = replace(RECIPES[name], **TINY[name])
    if hasattr(recipe, "threads"):
        torch.set_num_threads(recipe.threads)
    seed_everything(recipe.seed)
    old = old_model(recipe, V)
    old_history = train(old, corpus_ids("train"), corpus_ids("val"), OLD_CONFIG[type(recipe)](recipe, False))
    new, history = train_recipe(recipe, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(old.parameters(), new.parameters(), strict=True))
    assert history.train_loss == old_history.train_loss and history.lr == old_history.lr


def test_stateful_training_gives_the_weights_of_the_old_code():
    from lm_course.rnn_training import StatefulLoss
    from lm_course.train import train

    recipe = replace(REFERENCE_RECIPE, **TINY["lstm"])
    seed_everything(recipe.seed)
    old = old_model(recipe, V)
    loss = StatefulLoss(corpus_ids("train"), recipe.batch_size, recipe.block_size)
    old_history = train(old, corpus_ids("train"), corpus_ids("val"), old_rnn_config(recipe, False), loss_fn=loss)
    new, history = train_stateful_char_rnn(recipe, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(old.parameters(), new.parameters(), strict=True))
    assert history.train_loss == old_history.train_loss


@pytest.mark.parametrize("name", list(RECIPES))
def test_the_command_makes_any_shipped_model(name, tmp_path, monkeypatch, capsys):
    made = []

    def fake_make(kind, out, state_path=None):
        made.append((kind, out, state_path))
        out.write_bytes(b"x" * 1000)
        return out, {"val_bpc": 2.5, "test_bpc": 2.75}

    monkeypatch.setattr(reference, "make_reference", fake_make)
    assert cli.main(["make-reference", name, "--out", str(tmp_path / "m.safetensors")]) == 0
    assert cli.main(["make-reference", name, "--out", str(tmp_path / "m.safetensors"),
                     "--state", str(tmp_path / "s.pt")]) == 0
    assert made == [(name, tmp_path / "m.safetensors", None),
                    (name, tmp_path / "m.safetensors", tmp_path / "s.pt")]
    assert capsys.readouterr().out.splitlines()[-1] == "val 2.5000 / test 2.7500 bits per character"


def test_the_command_knows_exactly_the_shipped_models(capsys):
    """The command reads the one table; its help names exactly the table's models."""
    assert cli.main(["make-reference", "gpt3"]) == 2
    assert "no shipped model is called 'gpt3'; choose one of ['gpt', 'gpt-small', 'mlp', 'lstm']" \
        in capsys.readouterr().err
    listed = "gpt, gpt-small, mlp or lstm"
    assert listed in cli.__doc__ and listed == ", ".join(list(SHIPPED)[:-1]) + " or " + list(SHIPPED)[-1]


def test_make_reference_with_a_state_file_resumes_and_removes_it(tmp_path, monkeypatch):
    """``make-reference --state FILE``: a run stopped after a save carries on from FILE on the next call and
    gives the weights of an uninterrupted run; the file is gone once the model is saved."""
    monkeypatch.setattr(reference, "record_score", lambda *args, **kwargs: None)
    tiny = {**TINY["gpt"], "steps": 4, "eval_interval": 2}
    straight, _ = make_reference("gpt", tmp_path / "a.safetensors", progress=False, **tiny)
    state = tmp_path / "state.pt"
    real_step = train_module.training_step
    calls = 0

    def stop_in_step_3(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 4:
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)

    monkeypatch.setattr(train_module, "training_step", stop_in_step_3)
    real_train = recipes_module.train
    monkeypatch.setattr(recipes_module, "train",  # save at step 2 (the default interval is 500)
                        lambda model, ids, val, cfg: real_train(model, ids, val, replace(cfg, state_interval=2)))
    with pytest.raises(KeyboardInterrupt):
        make_reference("gpt", tmp_path / "b.safetensors", progress=False, state_path=state, **tiny)
    assert state.exists()
    monkeypatch.setattr(train_module, "training_step", real_step)
    path, record = make_reference("gpt", tmp_path / "b.safetensors", progress=False, state_path=state, **tiny)
    assert not state.exists() and record["resumed_at_steps"] == [2]
    a, _ = RECIPES["gpt"].load(straight)
    b, _ = RECIPES["gpt"].load(path)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
