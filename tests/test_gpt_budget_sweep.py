"""tools/gpt_budget_sweep.py: the tables of 05_transformer.ipynb ("Training on a
CPU") can be re-run; here a quick run of a few seconds and the table layout."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tool_util import load_tool

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tools" / "gpt_budget_sweep.py"


def load_script():
    return load_tool("gpt_budget_sweep")


def test_tables_match_the_notebook():
    sweep = load_script()
    assert len(sweep.GPT_TABLE) == 17 and len(sweep.LSTM_TABLE) == 4
    first = sweep.GPT_TABLE[0]  # the chapter's model
    assert (first.n_layer, first.n_head, first.n_embd, first.block_size, first.batch_size, first.lr,
            first.steps) == (1, 4, 64, 64, 32, 0.01, 902)
    assert sweep.LSTM_TABLE[-1] == first
    counts = [sum(p.numel() for p in sweep.build(row, 63).parameters()) for row in sweep.LSTM_TABLE]
    assert counts == [111_487, 349_951, 349_951, 58_240]  # the notebook's parameter column


def test_parse_configs():
    sweep = load_script()
    assert sweep.parse_configs(None, 3) == [0, 1, 2]
    assert sweep.parse_configs("1,3", 3) == [0, 2]
    for bad in ("0", "4", "a", ","):
        with pytest.raises(ValueError, match="--configs"):
            sweep.parse_configs(bad, 3)


def test_quick_run_prints_both_tables(tmp_path):
    out = tmp_path / "rows.json"
    result = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--json", str(out)],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "| layers | heads | width $C$ |" in result.stdout
    assert "| LSTM, 128 units, 64-d embeddings | 111,487 | 3 |" in result.stdout
    rows = json.loads(out.read_text())
    assert [r["row"] for r in rows["gpt"]] == [1] and [r["row"] for r in rows["lstm"]] == [1]
    for r in rows["gpt"] + rows["lstm"]:
        assert r["steps"] == 3 and 0 < r["val_bpc"] < 7  # 3 steps: a bit better than uniform (5.98)


def test_bad_arguments_are_refused():
    result = subprocess.run([sys.executable, str(SCRIPT), "--table", "gpt", "--configs", "99"],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 2 and "rows are numbered 1..17" in result.stderr
