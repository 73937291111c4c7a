"README.md is made from nbs/index.ipynb, and CI runs the test command it shows."
import subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT/'tools'))
from make_readme import render

def test_readme_is_in_step_with_index_notebook():
    assert (ROOT/'README.md').read_text() == render(), "run: python tools/make_readme.py"

def test_readme_shows_exactly_two_setup_commands():
    lines = [l for l in (ROOT/'README.md').read_text().splitlines() if l.startswith('python3 -m venv .venv')]
    assert len(lines) == 2
    assert any(' pets train' in l for l in lines) and any('nbdev-test' in l and 'pytest' in l for l in lines)
    assert 'nbdev-test' in (ROOT/'.ci'/'run').read_text()
