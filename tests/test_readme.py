"README.md is made from nbs/index.ipynb, and CI runs the test command it shows."
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT/'tools'))
from make_readme import render

def test_readme_is_in_step_with_index_notebook():
    assert (ROOT/'README.md').read_text() == render(), "run: python tools/make_readme.py"

def test_readme_opens_with_two_setup_commands_then_one_per_section():
    text = (ROOT/'README.md').read_text()
    setup, *sections = text.split('\n## ')[1:]
    first = [l for l in setup.splitlines() if l.startswith('python3 -m venv .venv')]
    assert len(first) == 2 and first[0].endswith(' pets train') and 'nbdev-test' in first[1] and 'pytest' in first[1]
    for s in sections:  # a later section has at most one command of its own
        assert len([l for l in s.splitlines() if l.startswith('python3 -m venv .venv')]) <= 1, s.splitlines()[0]
    assert 'nbdev-test' in (ROOT/'.ci'/'run').read_text()
