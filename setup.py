"""The one build step pyproject.toml cannot declare: the wheel carries the
chapters (``notebooks/NN_*.ipynb``) as ``lm_course/notebooks/``, so an
installed package can give a student the course (``python -m lm_course
workspace``; :func:`lm_course.workspace.chapters_dir`). A clone (an editable
install) reads ``notebooks/`` itself, so nothing is copied there.
Everything else is in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildWithChapters(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        dest = Path(self.build_lib) / "lm_course" / "notebooks"
        dest.mkdir(parents=True, exist_ok=True)
        for chapter in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
            shutil.copyfile(chapter, dest / chapter.name)


setup(cmdclass={"build_py": BuildWithChapters})
