"""Checkers of the chapter 2 exercises: a right answer passes, wrong ones fail
with a hint, and nothing raises."""

from lm_course.exercises import ch02
from lm_course.mlp import MLPConfig, MLPLanguageModel
from lm_course.tokenizers.bpe import merge_pair


def test_check_merge(capsys):
    assert ch02.check_merge(merge_pair)
    assert "✅" in capsys.readouterr().out

    def overlapping(ids, pair, new_id):  # merges [5, 5, 5] into [7, 7]: wrong
        out = []
        for i, x in enumerate(ids):
            if i + 1 < len(ids) and (x, ids[i + 1]) == pair:
                out.append(new_id)
            elif not (i > 0 and (ids[i - 1], x) == pair):
                out.append(x)
        return out

    assert not ch02.check_merge(overlapping)
    assert "❌" in capsys.readouterr().out
    assert not ch02.check_merge(lambda ids, pair, new_id: 1 / 0)
    assert "ZeroDivisionError" in capsys.readouterr().out
    assert not ch02.check_merge(None)
    assert not ch02.check_merge(lambda ids, pair, new_id: None)  # the notebook's placeholder
    assert "return a list" in capsys.readouterr().out


def test_check_first_merge(capsys):
    assert ch02.check_first_merge("ug")
    assert ch02.check_first_merge(("u", "g"))
    assert ch02.check_first_merge((117, 103))
    assert not ch02.check_first_merge("hu")
    assert not ch02.check_first_merge(None)
    assert not ch02.check_first_merge((1000, -1))
    out = capsys.readouterr().out
    assert out.count("✅") == 3 and out.count("❌") == 3


def test_check_mlp_parameters(capsys):
    right = MLPLanguageModel(MLPConfig(**ch02.MLP_EXERCISE_CONFIG)).n_params()
    assert ch02.check_mlp_parameters(right)
    assert not ch02.check_mlp_parameters(right - ch02.MLP_EXERCISE_CONFIG["n_embd"])  # no padding row
    assert "padding" in capsys.readouterr().out
    assert not ch02.check_mlp_parameters("many")
    assert not ch02.check_mlp_parameters(None)


def test_check_bits_per_char(capsys):
    s = ch02.BPE_SCORE
    assert ch02.check_bits_per_char(s["bits_per_token"] * s["tokens"] / s["characters"])
    assert not ch02.check_bits_per_char(s["bits_per_token"] * s["characters"] / s["tokens"])
    assert "upside down" in capsys.readouterr().out
    assert not ch02.check_bits_per_char(s["bits_per_token"])
    assert not ch02.check_bits_per_char(None)
