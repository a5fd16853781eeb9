"""lm_course.finetune: the objectives, the classifier, the training loop, evaluation, bad input.

The genre dataset it trains on is tested in tests/test_genre_data.py."""

import math

import matplotlib
import pytest
import torch
import torch.nn.functional as F

matplotlib.use("Agg")

from lm_course import finetune as ft  # noqa: E402
from lm_course import classifier  # noqa: E402
from lm_course import finetune_sweep  # noqa: E402
from lm_course import logistic_probe  # noqa: E402
from lm_course import objectives  # noqa: E402
from lm_course import genre_data as gd  # noqa: E402
from lm_course import genre_eval as ge  # noqa: E402
from lm_course.corpus import corpus_tokenizer  # noqa: E402
from lm_course.gpt import GPT, GPTConfig  # noqa: E402
from lm_course.tokenizers import UnknownCharacterError  # noqa: E402
from lm_course.optim import cosine_lr  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def tok():
    return corpus_tokenizer()


def tiny_gpt(seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=63, block_size=24, n_layer=1, n_head=2, n_embd=16)).eval()


# ---- the two pre-training objectives ------------------------------------------
def test_causal_lm_targets():
    x, y = objectives.causal_lm_targets([4, 5, 6, 7])
    assert x.tolist() == [4, 5, 6] and y.tolist() == [5, 6, 7]
    with pytest.raises(ValueError):
        objectives.causal_lm_targets([1])


def test_masked_lm_targets_follow_bert():
    ids = torch.randint(0, 63, (20000,), generator=torch.Generator().manual_seed(0))  # (N,)
    inputs, targets = objectives.masked_lm_targets(ids, mask_id=63, vocab_size=63, generator=torch.Generator().manual_seed(1))
    chosen = targets != objectives.IGNORE_INDEX
    assert torch.equal(targets[chosen], ids[chosen])  # targets are the original tokens
    assert torch.equal(inputs[~chosen], ids[~chosen])  # unchosen positions are untouched
    assert abs(chosen.float().mean().item() - 0.15) < 0.01
    masked = (inputs[chosen] == 63).float().mean().item()
    kept = (inputs[chosen] == ids[chosen]).float().mean().item()
    assert abs(masked - 0.8) < 0.03 and 0.09 < kept < 0.13  # 10% kept (+ random draws of the same id)
    # the loss only counts the chosen positions
    logits = torch.zeros(len(ids), 64)
    assert math.isclose(F.cross_entropy(logits, targets).item(), math.log(64), rel_tol=1e-5)
    with pytest.raises(ValueError):
        objectives.masked_lm_targets(ids, 63, 63, mask_prob=0)
    with pytest.raises(ValueError):
        objectives.masked_lm_targets([], 63, 63)


# ---- the classifier -------------------------------------------------------------
def test_classifier_shapes_and_pooling():
    gpt = tiny_gpt()
    seqs = [torch.tensor([1, 2, 3, 4, 5]), torch.tensor([6, 7])]
    idx, lengths = gd.pad_batch(seqs, pad_id=9)
    hidden = gpt(idx, output_hidden_states=True).hidden_states[-1]  # (B, T, C)
    mean = classifier.GPTClassifier(gpt, 2, pooling="mean")
    last = classifier.GPTClassifier(gpt, 3, pooling="last")
    assert mean(idx, lengths).shape == (2, 2) and last(idx, lengths).shape == (2, 3)
    feats = mean.features(idx, lengths)
    assert torch.allclose(feats[1], hidden[1, :2].mean(0), atol=1e-6)
    assert torch.allclose(last.features(idx, lengths)[1], hidden[1, 1], atol=1e-6)
    # causal attention + pooling over real positions: the padding changes nothing
    alone = mean.features(seqs[1][None])
    assert torch.allclose(alone[0], feats[1], atol=1e-5)
    other_pad, _ = gd.pad_batch(seqs, pad_id=33)
    assert torch.allclose(mean(other_pad, lengths), mean(idx, lengths), atol=1e-5)


def test_classifier_bad_arguments():
    gpt = tiny_gpt()
    with pytest.raises(ValueError):
        classifier.GPTClassifier(gpt, 1)
    with pytest.raises(ValueError):
        classifier.GPTClassifier(gpt, 2, pooling="max")
    with pytest.raises(TypeError):
        classifier.GPTClassifier(torch.nn.Linear(2, 2), 2)
    model = classifier.GPTClassifier(gpt, 2)
    assert isinstance(model.norm, torch.nn.Identity)  # the plain head by default
    with pytest.raises(ValueError):
        model(torch.zeros(2, 4, dtype=torch.long), torch.tensor([5, 1]))
    with pytest.raises(ValueError, match="block_size"):
        model(torch.zeros(1, 30, dtype=torch.long))


def test_make_classifier_variants_leave_the_pretrained_model_alone():
    gpt = tiny_gpt()
    before = {k: v.clone() for k, v in gpt.state_dict().items()}
    probe = classifier.make_classifier("probe", gpt)
    full = classifier.make_classifier("full", gpt)
    scratch = classifier.make_classifier("scratch", gpt, seed=1)
    assert probe.body_frozen and probe.num_trainable() == 16 * 2 + 2
    assert not full.body_frozen and full.num_trainable() == gpt.num_parameters() + 34
    assert torch.equal(full.gpt.transformer.wte.weight, gpt.transformer.wte.weight)
    assert full.gpt is not gpt
    assert not torch.equal(scratch.gpt.transformer.wte.weight, gpt.transformer.wte.weight)
    assert torch.equal(classifier.make_classifier("scratch", gpt, seed=1).gpt.transformer.wte.weight,
                       scratch.gpt.transformer.wte.weight)
    ft.fine_tune(full, [torch.tensor([1, 2, 3])] * 4, [0, 1, 0, 1], steps=3, batch_size=2, progress=False)
    assert all(torch.equal(before[k], v) for k, v in gpt.state_dict().items())
    with pytest.raises(ValueError):
        classifier.make_classifier("half", gpt)


# ---- training and evaluation --------------------------------------------------------
def toy_task(n: int = 48, seed: int = 0):
    """Class 0: sequences of small ids; class 1: of large ids (easily learnt)."""
    g = torch.Generator().manual_seed(seed)
    seqs, labels = [], []
    for i in range(n):
        y = i % 2
        length = int(torch.randint(3, 12, (1,), generator=g))
        low = 1 if y == 0 else 30
        seqs.append(torch.randint(low, low + 20, (length,), generator=g))
        labels.append(y)
    return seqs, labels


@pytest.mark.parametrize("variant", ["probe", "full", "scratch"])
def test_fine_tune_learns_a_toy_task(variant):
    x, y = toy_task()
    vx, vy = toy_task(24, seed=1)
    model = classifier.make_classifier(variant, tiny_gpt(), seed=0)
    lr = 3e-2 if variant == "probe" else 3e-3
    h = ft.fine_tune(model, x, y, vx, vy, steps=60, batch_size=8, lr=lr, eval_interval=20, progress=False)
    assert h.eval_steps == [0, 20, 40, 60] and len(h.train_loss) == 60 and len(h.train_acc) == 60
    assert h.final_val_acc >= (0.8 if variant == "probe" else 0.9), h.val_acc
    assert h.trainable_parameters == model.num_trainable()
    assert h.seconds > 0 and h.cpu_seconds >= 0
    ev = ge.evaluate(model, vx, vy)
    assert ev.accuracy == pytest.approx(h.final_val_acc)
    assert ev.confusion.sum() == len(vy) and torch.allclose(ev.probs.sum(-1), torch.ones(len(vy)))
    assert ev.stderr == pytest.approx(math.sqrt(ev.accuracy * (1 - ev.accuracy) / len(vy)))


def test_fine_tune_is_deterministic():
    x, y = toy_task()
    runs = []
    for _ in range(2):
        model = classifier.make_classifier("full", tiny_gpt(), seed=0)
        runs.append(ft.fine_tune(model, x, y, x[:8], y[:8], steps=12, batch_size=8, lr=1e-3,
                                 eval_interval=6, progress=False))
    assert runs[0].train_loss == runs[1].train_loss and runs[0].val_acc == runs[1].val_acc


def test_probe_with_cached_features_equals_running_the_body():
    """The probe trains the head on features computed once; running the frozen
    body at every step must give the same head."""
    x, y = toy_task(16)
    cached = classifier.make_classifier("probe", tiny_gpt(), seed=0)
    ft.fine_tune(cached, x, y, steps=5, batch_size=4, lr=1e-2, progress=False)

    manual = classifier.make_classifier("probe", tiny_gpt(), seed=0)
    cfg = ft.FineTuneConfig(steps=5, batch_size=4, lr=1e-2, progress=False)
    opt = torch.optim.AdamW([{"params": [manual.head.weight], "weight_decay": cfg.weight_decay},
                             {"params": [manual.head.bias], "weight_decay": 0.0}], lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    order = torch.randperm(len(x), generator=gen)
    for step in range(5):
        pick = order[4 * step:4 * step + 4] if 4 * step + 4 <= len(x) else None
        if pick is None:
            order = torch.randperm(len(x), generator=gen)
            pick = order[:4]
        idx, lengths = gd.pad_batch([x[i] for i in pick.tolist()])
        loss = F.cross_entropy(manual(idx, lengths), torch.tensor(y)[pick])
        for group in opt.param_groups:
            group["lr"] = cosine_lr(step, lr=cfg.lr, steps=cfg.steps, warmup_steps=cfg.warmup_steps,
                                    min_lr_ratio=cfg.min_lr_ratio)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_([manual.head.weight, manual.head.bias], 1.0)
        opt.step()
    assert torch.allclose(manual.head.weight, cached.head.weight, atol=1e-6)


# ---- a frozen prefix: the last blocks train, the first run once ----------------------------
def deep_gpt(seed: int = 0, n_layer: int = 3, **shape) -> GPT:
    torch.manual_seed(seed)
    cfg = dict(vocab_size=63, block_size=24, n_layer=n_layer, n_head=2, n_embd=16) | shape
    return GPT(GPTConfig(**cfg)).eval()


def test_hidden_before_and_features_from_split_the_body():
    gpt = deep_gpt()
    clf = classifier.GPTClassifier(gpt, 2)
    idx, lengths = gd.pad_batch([torch.tensor([1, 2, 3, 4, 5]), torch.tensor([6, 7])])
    with torch.no_grad():
        hidden = gpt(idx, output_hidden_states=True).hidden_states  # 4 x (B, T, C)
        whole = clf.features(idx, lengths)  # (B, C)
        for k in range(4):
            x = clf.hidden_before(idx, k)  # (B, T, C)
            if k < 3:
                assert torch.allclose(x, hidden[k], atol=1e-6), k  # the stream entering block k
            assert torch.allclose(clf.features_from(x, lengths, k), whole, atol=1e-5), k
        assert torch.allclose(gpt.transformer.ln_f(clf.hidden_before(idx, 3)), hidden[3], atol=1e-6)
    for bad in (-1, 4, 1.0, True):
        with pytest.raises(ValueError, match="block must be"):
            clf.hidden_before(idx, bad)
    with pytest.raises(ValueError, match="block_size"):
        clf.hidden_before(torch.zeros(1, 30, dtype=torch.long), 1)
    with pytest.raises(ValueError, match="token ids"):
        clf.hidden_before(torch.zeros(1, 3), 1)
    with pytest.raises(ValueError, match=r"\(B, T, 16\)"):
        clf.features_from(torch.zeros(1, 3, 8), None, 1)


def test_train_last_blocks_and_the_frozen_prefix():
    gpt = deep_gpt()
    clf = classifier.GPTClassifier(gpt, 2)
    block = sum(p.numel() for p in gpt.transformer.h[0].parameters())
    ln_f = sum(p.numel() for p in gpt.transformer.ln_f.parameters())
    assert clf.frozen_prefix == 0 and not clf.body_frozen  # everything trains by default
    assert clf.train_last_blocks(1).num_trainable() == block + ln_f + 34 and clf.frozen_prefix == 2
    assert clf.train_last_blocks(3).num_trainable() == 3 * block + ln_f + 34 and clf.frozen_prefix == 0
    assert not gpt.transformer.wte.weight.requires_grad  # the embeddings never train here
    assert clf.train_last_blocks(0).body_frozen and clf.num_trainable() == 34 and clf.frozen_prefix == 3
    for bad in (-1, 4, 1.5, True):
        with pytest.raises(ValueError, match="n_blocks"):
            clf.train_last_blocks(bad)
    clf.freeze_body(False)
    clf.gpt.transformer.wpe.weight.requires_grad_(False)
    assert clf.frozen_prefix == 0  # the token embedding still trains


def _count_calls(module: torch.nn.Module) -> list[int]:
    calls = [0]
    module.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def test_fine_tune_runs_a_frozen_prefix_once():
    x, y = toy_task(16)
    vx, vy = toy_task(8, seed=1)
    model = classifier.GPTClassifier(deep_gpt(), 2).train_last_blocks(1)
    first, last = _count_calls(model.gpt.transformer.h[0]), _count_calls(model.gpt.transformer.h[2])
    h = ft.fine_tune(model, x, y, vx, vy, steps=10, batch_size=4, eval_interval=5, progress=False)
    assert first[0] == 2  # once for the 16 training passages, once for the 8 validation ones (one batch each)
    assert last[0] == 10 + 3  # every step, and the three evaluations
    assert h.trainable_parameters == model.num_trainable() and h.eval_steps == [0, 5, 10]
    # given prefix states: block 0 does not run at all
    pre, vpre = classifier.prefix_states(model, x), classifier.prefix_states(model, vx)
    assert pre.block == 2 and len(pre) == 16 and [len(s) for s in pre.states] == [len(s) for s in x]
    first[0] = 0
    ft.fine_tune(model, x, y, vx, vy, steps=4, batch_size=4, progress=False, train_prefix=pre, val_prefix=vpre)
    ev = ge.evaluate(model, vx, vy, prefix=vpre)
    assert first[0] == 0 and ev.accuracy == pytest.approx(ge.evaluate(model, vx, vy).accuracy)
    assert torch.allclose(ev.probs, classifier.predict_proba(model, vx), atol=1e-5)


def test_fine_tune_with_a_frozen_prefix_equals_running_the_body():
    """The cached prefix changes the cost, not the result: the same steps with
    the whole GPT running every step give the same parameters."""
    from lm_course.optim import adamw_param_groups

    x, y = toy_task(16)
    # (no BatchNorm: it removes any shift of the features, so ln_f's bias would get a gradient
    # of pure rounding noise, which Adam turns into steps of size lr in either direction)
    cached = classifier.GPTClassifier(deep_gpt(), 2).train_last_blocks(1)
    manual = classifier.GPTClassifier(deep_gpt(), 2).train_last_blocks(1)
    manual.head.load_state_dict(cached.head.state_dict())
    cfg = ft.FineTuneConfig(steps=6, batch_size=4, lr=1e-3, progress=False)
    ft.fine_tune(cached, x, y, config=cfg)

    params = [p for p in manual.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(adamw_param_groups(params, cfg.weight_decay), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    order, cursor = torch.randperm(len(x), generator=gen), 0
    for step in range(cfg.steps):
        if cursor + 4 > len(x):
            order, cursor = torch.randperm(len(x), generator=gen), 0
        pick, cursor = order[cursor:cursor + 4], cursor + 4
        manual.train()
        idx, lengths = gd.pad_batch([x[i] for i in pick.tolist()])
        loss = F.cross_entropy(manual(idx, lengths), torch.tensor(y)[pick])  # the whole GPT runs
        for group in opt.param_groups:
            group["lr"] = cosine_lr(step, lr=cfg.lr, steps=cfg.steps, warmup_steps=cfg.warmup_steps,
                                    min_lr_ratio=cfg.min_lr_ratio)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
    for (name, a), b in zip(cached.state_dict().items(), manual.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5), name
    assert not torch.equal(cached.gpt.transformer.h[2].mlp.c_fc.weight, deep_gpt().transformer.h[2].mlp.c_fc.weight)


def test_prefix_states_bad_input():
    x, y = toy_task(8)
    model = classifier.GPTClassifier(deep_gpt(), 2).train_last_blocks(1)
    with pytest.raises(ValueError, match="block must be"):
        classifier.prefix_states(model, x, block=0)
    with pytest.raises(ValueError, match="block must be"):
        classifier.prefix_states(model, x, block=4)
    with pytest.raises(ValueError, match="no passages"):
        classifier.prefix_states(model, [])
    with pytest.raises(TypeError):
        classifier.prefix_states(model.gpt, x)
    pre = classifier.prefix_states(model, x)
    with pytest.raises(ValueError, match="do not match"):
        ft.fine_tune(model, x[:4], y[:4], train_prefix=pre, progress=False)
    with pytest.raises(ValueError, match="do not match"):
        ge.evaluate(model, x[::-1], y, prefix=pre)  # the same passages in another order
    with pytest.raises(TypeError, match="PrefixStates"):
        ge.evaluate(model, x, y, prefix=pre.states)
    with pytest.raises(ValueError, match="val_prefix needs"):
        ft.fine_tune(model, x, y, val_prefix=pre, progress=False)
    with pytest.raises(ValueError, match="not both"):
        classifier.predict_proba(model, x, features=torch.zeros(8, 16), prefix=pre)
    model.train_last_blocks(2)  # block 1 trains now: states entering block 2 are stale
    with pytest.raises(ValueError, match="recompute"):
        ft.fine_tune(model, x, y, train_prefix=pre, progress=False)
    probe = classifier.GPTClassifier(deep_gpt(), 2).train_last_blocks(0)
    with pytest.raises(ValueError, match="not both"):
        ft.fine_tune(probe, x, y, train_features=torch.zeros(8, 16), train_prefix=pre, progress=False)


def test_a_probe_from_prefix_states_equals_the_plain_probe():
    x, y = toy_task(16)
    a = classifier.GPTClassifier(deep_gpt(), 2).train_last_blocks(0)
    b = classifier.GPTClassifier(deep_gpt(), 2).train_last_blocks(0)
    b.head.load_state_dict(a.head.state_dict())
    ft.fine_tune(a, x, y, steps=5, batch_size=4, lr=1e-2, progress=False)
    ft.fine_tune(b, x, y, steps=5, batch_size=4, lr=1e-2, progress=False, train_prefix=classifier.prefix_states(b, x, 2))
    assert torch.allclose(a.head.weight, b.head.weight, atol=1e-5)


def test_a_gpt2_shaped_classifier_with_gpt2s_tokenizer():
    """Chapter 7's GPT-2 section on a tiny random GPT of GPT-2's vocabulary,
    with GPT-2's real tokenizer (offline, lm_course/shipped_data/gpt2/), and a head on width 768."""
    from lm_course.tokenizers import gpt2_tokenizer

    bpe = gpt2_tokenizer()
    gpt = deep_gpt(n_layer=2, vocab_size=50257, block_size=64, n_head=12, n_embd=96)
    texts = ["O, I am slain! Some surgeon, ho!", "Ha! a fat woman! the knight may be robbed",
             "Caf\u00e9 \u2014 \u201cna\u00efve\u201d, she said.", "To be, or not to be"] * 4
    labels = [1, 0, 0, 1] * 4
    seqs = [gd.encode_passage(bpe, t, gpt.config.block_size) for t in texts]
    assert max(int(s.max()) for s in seqs) > 1000  # GPT-2 ids, not characters
    model = classifier.GPTClassifier(gpt, 2, normalize=True).train_last_blocks(1)
    assert model.frozen_prefix == 1 and model.features(*gd.pad_batch(seqs[:3])).shape == (3, 96)
    h = ft.fine_tune(model, seqs, labels, seqs[:8], labels[:8], steps=20, batch_size=4, lr=3e-3,
                     eval_interval=10, progress=False)
    assert h.final_val_acc == 1.0, h.val_acc  # four distinct passages, memorised
    probs = classifier.classify_text(model, bpe, "Caf\u00e9 \u2014 \u201cna\u00efve\u201d, she said.")
    assert probs["comedy"] > 0.5
    wide = classifier.GPTClassifier(deep_gpt(n_layer=2, vocab_size=300, block_size=16, n_head=12, n_embd=768), 2)
    assert wide.head.in_features == 768 and wide.train_last_blocks(1).frozen_prefix == 1
    few = [torch.tensor([1, 2, 3]), torch.tensor([200, 7])]
    assert classifier.pooled_features(wide, few).shape == (2, 768)
    ft.fine_tune(wide, few, [0, 1], steps=2, batch_size=2, progress=False)


def test_fine_tune_bad_input():
    model = classifier.make_classifier("full", tiny_gpt())
    x, y = toy_task(8)
    with pytest.raises(ValueError, match="no passages"):
        ft.fine_tune(model, [], [], progress=False)
    with pytest.raises(ValueError, match="labels"):
        ft.fine_tune(model, x, y[:-1], progress=False)
    with pytest.raises(ValueError, match="labels must be"):
        ft.fine_tune(model, x, [5] * len(x), progress=False)
    with pytest.raises(ValueError, match="block_size"):
        ft.fine_tune(model, [torch.ones(30, dtype=torch.long)], [0], progress=False)
    with pytest.raises(ValueError, match="val_labels"):
        ft.fine_tune(model, x, y, x, progress=False)
    with pytest.raises(ValueError, match="steps"):
        ft.fine_tune(model, x, y, steps=0, progress=False)
    with pytest.raises(ValueError, match="lr"):
        ft.FineTuneConfig(lr=0)
    with pytest.raises(TypeError):
        ft.FineTuneConfig(head_lr=1e-3)  # gone: the chapter uses one learning rate
    with pytest.raises(TypeError):
        ft.fine_tune(model.gpt, x, y, progress=False)
    frozen = classifier.make_classifier("probe", tiny_gpt())
    frozen.head.requires_grad_(False)
    with pytest.raises(ValueError, match="trainable"):
        ft.fine_tune(frozen, x, y, progress=False)


def test_confusion_matrix():
    cm = ge.confusion_matrix([0, 0, 1, 1, 1], [0, 1, 1, 1, 0])
    assert cm.tolist() == [[1, 1], [1, 2]]
    with pytest.raises(ValueError):
        ge.confusion_matrix([0, 1], [0])
    with pytest.raises(ValueError):
        ge.confusion_matrix([0, 2], [0, 1])


def test_classify_text(tok):
    model = classifier.make_classifier("full", tiny_gpt())
    probs = classifier.classify_text(model, tok, "O, I am slain!")
    assert list(probs) == list(gd.CLASSES) and math.isclose(sum(probs.values()), 1.0, rel_tol=1e-6)
    assert classifier.classify_text(model, tok, "a" * 40) == classifier.classify_text(model, tok, "a" * 24)  # cropped
    with pytest.raises(ValueError, match="empty"):
        classifier.classify_text(model, tok, "")
    with pytest.raises(UnknownCharacterError):
        classifier.classify_text(model, tok, "5 + 5")
    with pytest.raises(ValueError, match="block_size"):
        classifier.classify_text(model, tok, "a" * 40, crop=False)


def test_ngram_baseline(tok):
    texts = ["ha ha ha, merry jest", "a merry jest, ha", "o woe, death and blood", "blood, woe, o death"] * 3
    labels = [0, 0, 1, 1] * 3
    clf = ge.NGramGenreClassifier(order=3).fit(texts, labels, tok)
    probs = clf.predict_proba(["merry ha", "death woe"])
    assert probs.argmax(-1).tolist() == [0, 1]
    assert torch.allclose(probs.sum(-1), torch.ones(2))
    with pytest.raises(ValueError):
        clf.predict_proba([""])
    with pytest.raises(RuntimeError):
        ge.NGramGenreClassifier().log_likelihoods(["x"])


# ---- plots ----------------------------------------------------------------------------
def test_plots():
    import matplotlib.pyplot as plt

    from lm_course import viz

    fig = viz.plot_lm_masks(list("To be!"), masked=[1, 4])
    left, right = fig.axes[:2]
    assert "causal" in left.get_title() and "bidirectional" in right.get_title()
    assert [t.get_text() for t in right.get_xticklabels()][1] == "[M]"
    with pytest.raises(ValueError):
        viz.plot_lm_masks([])
    with pytest.raises(ValueError):
        viz.plot_lm_masks(list("ab"), masked=[5])

    x, y = toy_task(16)
    model = classifier.make_classifier("full", tiny_gpt())
    h = ft.fine_tune(model, x, y, x, y, steps=6, batch_size=4, eval_interval=3, progress=False)
    ax = viz.plot_accuracy_curves({"full": h, "again": h})
    assert ax.get_xlabel() == "optimiser step" and ax.get_legend() is not None
    with pytest.raises(ValueError):
        viz.plot_accuracy_curves({})
    with pytest.raises(TypeError):
        viz.plot_accuracy_curves({"x": "not a history"})

    from lm_course.viz.finetune import plot_seed_spread

    ax = plot_seed_spread({"a": [0.5, 0.6], "b": [0.55]}, live={"a": 0.58}, baselines={"bigram": 0.59})
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    labels = ax.get_legend_handles_labels()[1]
    assert "your run (this notebook)" in labels and any(lab.startswith("bigram") for lab in labels)
    with pytest.raises(ValueError):
        plot_seed_spread({})
    with pytest.raises(ValueError):
        plot_seed_spread({"a": []})

    ax = viz.plot_confusion_matrix(torch.tensor([[3, 1], [2, 4]]))
    assert [t.get_text() for t in ax.texts] == ["3\n(75%)", "1\n(25%)", "2\n(33%)", "4\n(67%)"]
    with pytest.raises(ValueError):
        viz.plot_confusion_matrix(torch.zeros(3, 3))
    ax = viz.plot_class_probs({"comedy": 0.3, "tragedy": 0.7})
    assert len(ax.patches) == 2 and ax.get_xlabel() == "probability"
    plt.close("all")


# ---- the widget -----------------------------------------------------------------------
def test_genre_box(tok):
    from lm_course.widgets import genre_box

    model = classifier.make_classifier("full", tiny_gpt())
    box = genre_box({"tiny": model, "again": model}, tok, text="Ay me!")
    view = box.last_view
    assert view.ok and set(view.probs) == {"tiny", "again"}
    assert view.probs["tiny"] == classifier.classify_text(model, tok, "Ay me!")
    assert "comedy" in box.output.value and "tragedy" in box.output.value
    box.text.value = "5 * 5"  # an unknown character: a message, no exception
    assert not box.last_view.ok and "not in this tokenizer" in box.last_view.message
    assert "⚠" in box.output.value
    box.text.value = ""
    assert not box.last_view.ok and "empty" in box.last_view.message
    box.text.value = "__import__('os')"  # never evaluated: '_' and '(' are simply unknown characters
    assert not box.last_view.ok
    box.text.value = "a" * 40
    assert box.last_view.cropped and "first 24 characters" in box.output.value
    with pytest.raises(ValueError):
        genre_box({}, tok)
    with pytest.raises(TypeError):
        genre_box({"lm": tiny_gpt()}, tok)


def test_batchnorm_head_standardises_with_running_statistics_in_eval():
    model = classifier.make_classifier("probe", tiny_gpt(), normalize=True)
    assert isinstance(model.norm, torch.nn.BatchNorm1d) and not model.norm.affine
    assert model.num_trainable() == 16 * 2 + 2  # BatchNorm without affine adds no parameters
    x, y = toy_task(16)
    ft.fine_tune(model, x, y, steps=5, batch_size=4, lr=1e-2, progress=False)
    model.eval()
    z = torch.randn(3, 16)
    bn = model.norm
    want = ((z - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps)) @ model.head.weight.T + model.head.bias
    assert torch.allclose(model.classify_features(z), want, atol=1e-5)


def test_pooled_features_keep_the_order_and_can_be_shared():
    x, y = toy_task(20)
    probe = classifier.make_classifier("probe", tiny_gpt(), seed=0)
    feats = classifier.pooled_features(probe, x, batch_size=3)  # batched by length, returned in order
    one_by_one = torch.cat([probe.features(s[None]) for s in x])
    assert torch.allclose(feats, one_by_one, atol=1e-5)
    a = classifier.make_classifier("probe", tiny_gpt(), seed=0)
    b = classifier.make_classifier("probe", tiny_gpt(), seed=0)
    ha = ft.fine_tune(a, x, y, x, y, steps=6, batch_size=4, lr=1e-2, progress=False)
    hb = ft.fine_tune(b, x, y, x, y, steps=6, batch_size=4, lr=1e-2, progress=False,
                      train_features=feats, val_features=feats)
    assert torch.allclose(a.head.weight, b.head.weight, atol=1e-6) and ha.val_acc == hb.val_acc
    assert ge.evaluate(b, x, y, features=feats).accuracy == ge.evaluate(b, x, y).accuracy
    with pytest.raises(ValueError, match="frozen"):
        ft.fine_tune(classifier.make_classifier("full", tiny_gpt()), x, y, train_features=feats, progress=False)
    with pytest.raises(ValueError, match="train_features"):
        ft.fine_tune(b, x, y, train_features=feats[:5], progress=False)
    with pytest.raises(ValueError):
        classifier.pooled_features(probe, [])


def test_restore_best_keeps_the_best_validation_parameters():
    x, y = toy_task()
    vx, vy = toy_task(24, seed=1)
    model = classifier.make_classifier("scratch", tiny_gpt(), seed=0)
    h = ft.fine_tune(model, x, y, vx, vy, steps=40, batch_size=8, lr=3e-3, eval_interval=5, progress=False,
                     restore_best=True)
    best = h.val_loss.index(min(h.val_loss))
    assert h.best_step == h.eval_steps[best]
    assert ge.evaluate(model, vx, vy).accuracy == pytest.approx(h.val_acc[best])
    with pytest.raises(ValueError, match="validation"):
        ft.fine_tune(model, x, y, steps=2, restore_best=True, progress=False)


def test_paired_difference():
    a = torch.tensor([1, 1, 0, 1, 0, 1], dtype=torch.bool)
    b = torch.tensor([1, 0, 0, 1, 1, 0], dtype=torch.bool)
    r = ge.paired_difference(a, b, groups=["p", "p", "p", "q", "q", "q"])
    d = torch.tensor([0, 1, 0, 0, -1, 1], dtype=torch.float64)
    assert r.difference == pytest.approx(1 / 6) and r.n == 6
    assert r.stderr == pytest.approx(float(d.std() / math.sqrt(6)))
    assert (r.only_a, r.only_b) == (2, 1)
    assert r.per_group == pytest.approx({"p": 1 / 3, "q": 0.0})
    resid = d - d.mean()
    cr0 = math.sqrt(float(resid[:3].sum()) ** 2 + float(resid[3:].sum()) ** 2) / 6
    assert r.clustered_stderr == pytest.approx(cr0 * math.sqrt(2 / 1))  # CR1: G / (G - 1) with G = 2
    assert r.df == 1 and r.ci95 == pytest.approx(12.7062 * r.clustered_stderr, rel=1e-4)  # t with 1 df
    assert r.interval == pytest.approx((r.difference - r.ci95, r.difference + r.ci95))
    assert r.sign_test_p == 1.0  # two groups, one of them 0: every sign pattern is as extreme
    assert ge.paired_difference(a, a).stderr == 0.0  # identical classifiers: no uncertainty about 0
    assert math.isnan(ge.paired_difference(a, b).clustered_stderr)  # no groups, no clustered error
    with pytest.raises(ValueError):
        ge.paired_difference(a, b[:3])
    with pytest.raises(ValueError):
        ge.paired_difference(torch.tensor([2, 0]), torch.tensor([1, 0]))
    with pytest.raises(ValueError):
        ge.paired_difference(a, b, groups=["p"])
    with pytest.raises(ValueError):
        ge.paired_difference(a[:1], b[:1])


def test_paired_difference_of_seed_means_and_the_sign_test():
    # fractions in [0, 1]: how often each passage was right over several seeds
    a = torch.tensor([1.0, 0.5, 0.9, 0.2, 0.6, 0.8, 0.7, 0.4])
    b = torch.tensor([0.5, 0.5, 0.3, 0.2, 0.1, 0.8, 0.2, 0.4])
    groups = ["w", "w", "x", "x", "y", "y", "z", "z"]
    r = ge.paired_difference(a, b, groups)
    assert r.difference == pytest.approx(float((a - b).mean()))
    assert r.df == 3 and r.ci95 == pytest.approx(3.1824 * r.clustered_stderr, rel=1e-4)
    # every play ahead: only the all-plus and all-minus patterns are as extreme, 2 of 16
    assert r.sign_test_p == pytest.approx(2 / 16)
    flipped = ge.paired_difference(b, a, groups)
    assert flipped.difference == pytest.approx(-r.difference) and flipped.sign_test_p == r.sign_test_p
    with pytest.raises(ValueError, match="fractions"):
        ge.paired_difference(torch.tensor([1.5, 0.0]), torch.tensor([1.0, 0.0]))


def test_t_quantile():
    assert ge.t_quantile(0.975, 1) == pytest.approx(12.7062, rel=1e-4)
    assert ge.t_quantile(0.975, 3) == pytest.approx(3.1824, rel=1e-4)
    assert ge.t_quantile(0.95, 10) == pytest.approx(1.8125, rel=1e-4)
    assert ge.t_quantile(0.975, 10_000) == pytest.approx(1.9600, rel=1e-3)
    assert ge.t_quantile(0.025, 3) == pytest.approx(-ge.t_quantile(0.975, 3))
    for bad in ((0.0, 3), (1.0, 3), (0.9, 0), (0.9, 2.5), (0.9, True)):
        with pytest.raises(ValueError):
            ge.t_quantile(*bad)


def test_correctness_bits_predictions_and_collapse():
    c = ge.correct_from_bits("1101")
    assert c.tolist() == [True, True, False, True]
    labels = torch.tensor([0, 1, 1, 0])
    pred = ge.predictions_from_correct(c, labels)
    assert pred.tolist() == [0, 1, 0, 0]
    assert not ge.is_near_constant(pred)
    assert ge.is_near_constant(torch.zeros(100, dtype=torch.long))
    assert ge.is_near_constant(torch.tensor([0] * 91 + [1] * 9))
    assert not ge.is_near_constant(torch.tensor([0] * 90 + [1] * 10))  # exactly 90%: not more than
    for bad in ("", "10x", 101):
        with pytest.raises(ValueError):
            ge.correct_from_bits(bad)
    with pytest.raises(ValueError):
        ge.predictions_from_correct(c, torch.tensor([0, 1, 2, 0]))
    with pytest.raises(ValueError):
        ge.predictions_from_correct(c, labels[:3])
    with pytest.raises(ValueError):
        ge.is_near_constant([])


def test_logistic_probe_converges_and_is_chosen_on_validation():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 6, generator=g) * torch.tensor([1.0, 5.0, 0.1, 1.0, 1.0, 1.0])  # (N, C), unequal scales
    y = (x[:, 0] + 0.5 * torch.randn(400, generator=g) > 0).long()  # (N,)
    probe = logistic_probe.fit_logistic_probe(x[:300], y[:300], l2=0.01)
    assert probe.converged and probe.weight.shape == (2, 6)
    assert (probe.predict(x[300:]) == y[300:]).float().mean() > 0.7
    again = logistic_probe.fit_logistic_probe(x[:300], y[:300], l2=0.01)  # no seed: the same fit every time
    assert torch.equal(again.weight, probe.weight)
    # the optimum: the gradient of the penalised loss vanishes
    w = probe.weight.clone().requires_grad_(True)
    b = probe.bias.clone().requires_grad_(True)
    z = (x[:300].double() - probe.mean) / probe.std
    loss = F.cross_entropy(z @ w.T + b, y[:300]) + 0.005 * (w * w).sum()
    loss.backward()
    assert w.grad.abs().max() < 1e-6 and b.grad.abs().max() < 1e-6
    chosen, tried = logistic_probe.select_logistic_probe(x[:300], y[:300], x[300:], y[300:], grid=(1e-3, 1e-2, 1e-1))
    ordered = sorted(tried)
    assert ordered[0] < chosen.l2 < ordered[-1]  # widened until the best is inside
    assert tried[chosen.l2]["val_acc"] == max(r["val_acc"] for r in tried.values())
    with pytest.raises(ValueError):
        logistic_probe.fit_logistic_probe(x, y[:10], l2=1.0)
    with pytest.raises(ValueError):
        logistic_probe.fit_logistic_probe(x, y, l2=0.0)


# ---- the learning-rate sweep (tools/finetune_sweep.py) --------------------------------
def _sweep_module():
    from tool_util import load_tool

    return load_tool("finetune_sweep")


def test_sweep_ladder_and_choice():
    sw = _sweep_module()
    assert [sw.rung(i) for i in range(-8, -4)] == [1e-4, 3e-4, 1e-3, 3e-3]
    assert sw.rung_index(3e-4) == -7 and sw.rung(sw.rung_index(1e-2) + 1) == 3e-2
    with pytest.raises(ValueError):
        sw.rung_index(2e-4)
    runs = {1e-3: {"val_acc": 0.6, "val_loss": 0.68}, 3e-3: {"val_acc": 0.6, "val_loss": 0.66},
            1e-2: {"val_acc": 0.0, "val_loss": None, "diverged": True}}
    assert sw.best_of(runs) == 3e-3  # a tie in accuracy goes to the lower loss
    assert finetune_sweep.format_lr(3e-4) == "3e-4" and finetune_sweep.format_lr(0.1) == "1e-1"


def test_shipped_sweep_is_complete_and_bracketed():
    sweep = finetune_sweep.load_sweep()
    n_test = 2 * sweep["protocol"]["data"]["n_test_per_class"]
    assert sweep["protocol"]["data"]["seed"] == gd.GENRE_TASK_SEED
    assert set(sweep["variants"]) == {"probe", "full", "scratch"}
    for entry in sweep["variants"].values():
        assert entry["chosen_normalization"] in ("none", "batchnorm")
        for norm in ("none", "batchnorm"):
            row = entry[norm]
            assert row["optimum_inside_grid"] and min(row["grid"]) < row["chosen_lr"] < max(row["grid"])
            assert len(row["test_correct"]) == n_test
    lpft = sweep["lpft"]
    assert lpft["optimum_inside_grid"] and min(lpft["grid"]) < lpft["chosen_lr"] < max(lpft["grid"])
    assert sweep["control"]["optimum_inside_grid"] and sweep["ngram"]["chosen_order"] in range(2, 7)
    assert set(sweep["seeds"]) == {"probe", "full", "scratch", "lpft", "random_probe"}
    seeds = set(sweep["seeds"]["probe"])
    # the tool's default is seeds 0-9; the shipped file holds those that finished (lm_course/shipped_data/finetune_sweep.json)
    assert len(seeds) >= 2 and all(set(runs) == seeds for runs in sweep["seeds"].values())
    for runs in [*sweep["seeds"].values(), {"-": sweep["control"]}, {"-": sweep["ngram"]}]:
        for run in runs.values():
            right = ge.correct_from_bits(run["test_correct"])
            assert len(right) == n_test and run["test_acc"] == pytest.approx(right.double().mean().item(), abs=1e-4)
            assert set(run["test_per_play"]) == set(sweep["test_plays"])
            assert sum(run["predicted_share"].values()) == pytest.approx(1.0, abs=1e-3)
    table = finetune_sweep.sweep_table(sweep)
    assert table.count("[") == 7 and "edge" not in table and "probe, then all" in table


@pytest.mark.slow  # the sweep tool end to end: a minute and more
def test_sweep_tool_smoke(tmp_path):
    """--quick runs every part on a few passages, and --only recomputes one in place."""
    sw = _sweep_module()
    out = tmp_path / "sweep.json"
    assert sw.main(["--quick", "--out", str(out)]) == 0
    import json

    made = json.loads(out.read_text())
    assert made["format"] == finetune_sweep.SWEEP_FORMAT and made["quick"]
    assert set(made["seeds"]["lpft"]) == {"0", "1"} and "control" in made and "ngram" in made
    before = made["seeds"]
    assert sw.main(["--quick", "--out", str(out), "--only", "seeds"]) == 0
    assert json.loads(out.read_text())["seeds"] == before  # the same numbers again
    with pytest.raises(ValueError, match="quick"):
        finetune_sweep.load_sweep(out)


def test_load_sweep_refuses_other_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="finetune_sweep"):
        finetune_sweep.load_sweep(tmp_path / "missing.json")
    (tmp_path / "x.json").write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="not a fine-tuning sweep"):
        finetune_sweep.load_sweep(tmp_path / "x.json")
    (tmp_path / "old.json").write_text('{"format": "lm_course.finetune_sweep/1"}')
    with pytest.raises(ValueError, match="not a fine-tuning sweep"):
        finetune_sweep.load_sweep(tmp_path / "old.json")
    (tmp_path / "q.json").write_text(f'{{"format": "{finetune_sweep.SWEEP_FORMAT}", "quick": true}}')
    with pytest.raises(ValueError, match="quick"):
        finetune_sweep.load_sweep(tmp_path / "q.json")
