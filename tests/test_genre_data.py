"""lm_course.genre_data: chapter 7's comedy-or-tragedy passages, split by play."""

import re

import pytest
import torch

from lm_course import genre_data as gd
from lm_course.corpus import corpus_tokenizer
from lm_course.data import TEST_PLAYS, TRAIN_PLAYS, VAL_PLAYS, play_genres
from lm_course.tokenizers import UnknownCharacterError

PLAY = "ROMEO:\nBut soft, what light\nthrough yonder window breaks?\n\nJULIET:\nAy me!\n\nROMEO:\nShe speaks."


@pytest.fixture(scope="module")
def tok():
    return corpus_tokenizer()


# ---- passages and datasets -------------------------------------------------
def test_speech_lines_drop_the_speakers():
    assert gd.speech_lines(PLAY) == ["But soft, what light", "through yonder window breaks?", "Ay me!",
                                     "She speaks."]
    assert gd.speech_lines(PLAY, keep_speakers=True)[:2] == ["ROMEO:", "But soft, what light"]
    with pytest.raises(TypeError):
        gd.speech_lines(None)


def test_make_passages_packs_whole_lines():
    got = gd.make_passages(PLAY, max_chars=40, min_chars=5)
    assert got == ["But soft, what light", "through yonder window breaks?\nAy me!", "She speaks."]
    assert all(len(p) <= 40 for p in got)
    assert gd.make_passages(PLAY, max_chars=40, min_chars=12) == got[:2]  # the short last piece is dropped
    long = "X:\n" + "word " * 30
    pieces = gd.make_passages(long, max_chars=22, min_chars=1)
    assert all(len(p) <= 22 for p in pieces) and " ".join(pieces).split() == ["word"] * 30
    with pytest.raises(ValueError):
        gd.make_passages(PLAY, max_chars=10, min_chars=20)


def test_split_plays_are_held_out_and_labelled():
    splits = gd.split_plays()
    genres = play_genres()
    # the test set is every play the language model never trained on
    assert set(splits["test"]) == set(VAL_PLAYS + TEST_PLAYS)
    assert set(splits["val"]) == set(gd.CLASSIFIER_VAL_PLAYS) <= set(TRAIN_PLAYS)
    assert set(splits["train"]) <= set(TRAIN_PLAYS) and not set(splits["train"]) & set(splits["val"])
    assert splits["test"]["julius-caesar"] == "tragedy" and genres["julius-caesar"] == "roman"
    for split in splits.values():
        for play, label in split.items():
            assert play in gd.FOLIO_TRAGEDIES or genres[play] == {"comedy": "comedies", "tragedy": "tragedies"}[label]
    assert sorted(set(splits["train"].values())) == ["comedy", "tragedy"]
    assert len(splits["train"]) == 9  # 5 comedies and 4 tragedies
    assert sorted(splits["test"].values()) == ["comedy", "comedy", "tragedy", "tragedy"]
    assert sorted(splits["val"].values()) == ["comedy", "tragedy"]


def test_genre_datasets_are_balanced_disjoint_and_seeded():
    kw = dict(max_chars=96, n_train_per_class=40, n_val_per_class=20, n_test_per_class=20)
    ds = gd.genre_datasets(**kw, seed=3)
    assert ds["train"].counts() == {"comedy": 40, "tragedy": 40}
    assert ds["val"].counts() == ds["test"].counts() == {"comedy": 20, "tragedy": 20}
    assert set(ds["test"].play_counts().values()) == {10}  # equal shares: two plays per class
    assert sorted(ds["train"].play_counts().values()) == [8] * 5 + [10] * 4  # 40 = 5 x 8 = 4 x 10
    plays = {k: set(v.plays) for k, v in ds.items()}
    assert not plays["train"] & (plays["val"] | plays["test"]) and not plays["val"] & plays["test"]
    speaker = re.compile(r"^[A-Z][A-Z ',-]+:$")  # HAMLET:, FIRST MURDERER:
    assert all(32 <= len(t) <= 96 for t in ds["train"].texts)
    assert not any(speaker.match(line) for t in ds["train"].texts for line in t.split("\n"))
    again = gd.genre_datasets(**kw, seed=3)
    assert again["train"].texts == ds["train"].texts
    assert gd.genre_datasets(**kw, seed=4)["train"].texts != ds["train"].texts
    odd = gd.genre_datasets(max_chars=96, n_train_per_class=42, n_val_per_class=5, n_test_per_class=7)
    assert odd["train"].counts() == {"comedy": 42, "tragedy": 42} and odd["test"].counts()["comedy"] == 7
    assert gd.GENRE_TASK_SEED == 0  # the task's draw (chapter 7 and its sweep), not a training seed
    default = gd.genre_datasets(max_chars=96, n_train_per_class=40, n_val_per_class=20, n_test_per_class=20)
    assert default["test"].texts == gd.genre_datasets(**kw, seed=gd.GENRE_TASK_SEED)["test"].texts
    with pytest.raises(ValueError, match="equal shares"):
        gd.genre_datasets(n_train_per_class=10**6)
    with pytest.raises(ValueError):
        gd.genre_datasets(n_val_per_class=0)


def test_dataset_checks_its_fields():
    with pytest.raises(ValueError):
        gd.GenreDataset(["a"], [0, 1], ["p"])
    with pytest.raises(ValueError):
        gd.GenreDataset(["a"], [2], ["p"])
    assert gd.GenreDataset(["a", "b"], [0, 0], ["p", "q"]).play_counts() == {"p": 1, "q": 1}


# ---- encoding and bad input ---------------------------------------------------
def test_encode_passage_bad_input(tok):
    assert gd.encode_passage(tok, "Ay me!", 24).tolist() == tok.encode("Ay me!")
    with pytest.raises(ValueError, match="empty"):
        gd.encode_passage(tok, "", 24)
    with pytest.raises(ValueError, match="empty"):
        gd.encode_passage(tok, "  \n ", 24)
    with pytest.raises(UnknownCharacterError):
        gd.encode_passage(tok, "caf\u00e9 5", 24)
    with pytest.raises(TypeError):
        gd.encode_passage(tok, 42, 24)
    long = "a" * 30
    assert len(gd.encode_passage(tok, long, 24)) == 24  # cropped to its first 24 characters
    with pytest.raises(ValueError, match="block_size"):
        gd.encode_passage(tok, long, 24, crop=False)


def test_encode_passage_crops_tokens_with_any_tokenizer():
    """GPT-2's BPE (chapter 7's GPT-2 section): the crop counts tokens, not characters."""
    from lm_course.tokenizers import gpt2_tokenizer

    bpe = gpt2_tokenizer()  # offline: the files shipped in lm_course/shipped_data/gpt2/
    text = "But soft, what light through yonder window breaks? caf\u00e9 \u2014 \u201cna\u00efve\u201d"
    ids = gd.encode_passage(bpe, text, 1024)
    assert ids.tolist() == bpe.encode(text) and ids.dtype == torch.long
    assert len(ids) < len(text) and int(ids.max()) > 1000  # word pieces, ids beyond any character vocabulary
    assert gd.encode_passage(bpe, text, 5).tolist() == bpe.encode(text)[:5]  # the first 5 tokens
    with pytest.raises(ValueError, match="tokens, more than the model's block_size of 5"):
        gd.encode_passage(bpe, text, 5, crop=False)
    with pytest.raises(ValueError, match="block_size"):
        gd.encode_passage(bpe, text, 0)

    class Silent:  # a tokenizer that drops everything
        def encode(self, text):
            return []

    with pytest.raises(ValueError, match="no tokens"):
        gd.encode_passage(Silent(), "Ay me!", 24)


def test_equal_shares():
    assert gd.equal_shares(10, 4) == [3, 3, 2, 2] and gd.equal_shares(8, 4) == [2] * 4
    assert sum(gd.equal_shares(101, 5)) == 101 and gd.equal_shares(0, 2) == [0, 0]
    with pytest.raises(ValueError):
        gd.equal_shares(3, 0)


def test_balanced_indices_and_subset():
    ds = gd.genre_datasets(max_chars=96, n_train_per_class=40, n_val_per_class=20, n_test_per_class=20)
    train = ds["train"]
    pick = train.balanced_indices(10)
    assert pick == sorted(pick) and len(set(pick)) == 20
    small = train.subset(pick)
    assert small.counts() == {"comedy": 10, "tragedy": 10}
    # equal shares of each class's plays, the first plays alphabetically take one more (10 = 5 x 2, 4 x 2 + 2)
    comedies = sorted(p for p, y in zip(train.plays, train.labels) if y == 0)
    tragedies = sorted({p for p, y in zip(train.plays, train.labels) if y == 1})
    assert sorted(small.play_counts()[p] for p in set(comedies)) == [2] * 5
    assert [small.play_counts()[p] for p in tragedies] == [3, 3, 2, 2]
    # the first passages of each play, in the dataset's order
    first_hamlet = [i for i, p in enumerate(train.plays) if p == tragedies[0]][:3]
    assert [i for i in pick if train.plays[i] == tragedies[0]] == first_hamlet
    assert small.texts == [train.texts[i] for i in pick] and small.labels == [train.labels[i] for i in pick]
    assert train.subset([3, 1]).texts == [train.texts[3], train.texts[1]]
    assert train.balanced_indices(40) == list(range(len(train)))  # everything, in order
    with pytest.raises(ValueError, match="fewer than its share"):
        train.balanced_indices(41)
    with pytest.raises(ValueError):
        train.balanced_indices(0)
    with pytest.raises(ValueError):
        train.subset([len(train)])
    with pytest.raises(ValueError, match="class 'tragedy'"):
        train.subset([i for i in range(len(train)) if train.labels[i] == 0]).balanced_indices(2)


def test_pad_batch():
    idx, lengths = gd.pad_batch([torch.tensor([5, 6, 7]), torch.tensor([8])], pad_id=0)
    assert idx.tolist() == [[5, 6, 7], [8, 0, 0]] and lengths.tolist() == [3, 1]
    with pytest.raises(ValueError):
        gd.pad_batch([])
    with pytest.raises(ValueError):
        gd.pad_batch([torch.tensor([], dtype=torch.long)])
