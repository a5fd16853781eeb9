"""The classroom check (``python -m lm_course classroom``): each step and the report."""

from __future__ import annotations

import pytest

from lm_course import classroom


def test_versions_gpt2_and_memory_without_side_effects(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # never download in a test
    checks = {c.name: c for c in classroom.run_checks(download=False, decks=None, run_welcome=False)}
    assert list(checks) == ["packages", "GPT-2 weights", "cache", "corpus", "memory"]
    assert checks["cache"].ok and "writable" in checks["cache"].detail, checks["cache"].detail
    assert checks["corpus"].ok and "sha256" in checks["corpus"].detail, checks["corpus"].detail
    assert checks["packages"].ok and "jupyterlab-rise" in checks["packages"].detail
    assert checks["GPT-2 weights"].ok  # the course runs either way: only the text differs
    assert "MB available" in checks["memory"].detail or "unknown" in checks["memory"].detail


def test_a_missing_package_makes_the_machine_not_ready(monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    versions, run_checks = classroom.package_versions, classroom.run_checks
    monkeypatch.setattr(classroom, "package_versions",  # the real look-up, of a package no one has
                        lambda names: versions(("torch", "surely-not-installed-pkg")))
    monkeypatch.setattr(classroom, "run_checks", lambda download: [
        c for c in run_checks(download=False, decks=None, run_welcome=False) if c.name == "packages"])
    assert classroom.main(download=False) == 1
    out = capsys.readouterr().out
    assert "NO  packages" in out and "surely-not-installed-pkg" in out and "NOT READY" in out


@pytest.mark.kernel
def test_chapter_0_first_cells_run_headless(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # never download in a test
    check = next(c for c in classroom.run_checks(download=False, decks=None) if c.name == "chapter 0")
    assert check.ok, check.detail
    assert "Check your setup" in check.detail and " ran in " in check.detail


def test_a_cache_that_is_a_file_makes_the_machine_not_ready(monkeypatch, tmp_path, capsys):
    """L17: LM_COURSE_CACHE naming a file breaks every chapter's load: NOT READY, naming the variable."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    monkeypatch.setenv("LM_COURSE_CACHE", str(afile))
    run_checks = classroom.run_checks
    monkeypatch.setattr(classroom, "run_checks", lambda download: [
        c for c in run_checks(download=False, decks=None, run_welcome=False) if c.name in ("cache", "corpus")])
    assert classroom.main(download=False) == 1
    out = capsys.readouterr().out
    assert "NO  cache" in out and "LM_COURSE_CACHE" in out and "NOT READY" in out
