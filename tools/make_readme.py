"""Write README.md from nbs/index.ipynb (nbdev-readme needs Quarto, which cannot be installed here).

Markdown cells are copied as they are; code cells become ```python blocks. Run: python tools/make_readme.py
`tests/test_readme.py` fails when README.md is out of step with the notebook."""
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def render(nb_path=ROOT/'nbs'/'index.ipynb') -> str:
    "The README text for the notebook at `nb_path`."
    cells = json.loads(Path(nb_path).read_text())['cells']
    parts = []
    for c in cells:
        src = ''.join(c['source']).strip()
        if not src or src.startswith('#| hide'): continue
        parts.append(src if c['cell_type'] == 'markdown' else f"```python\n{src}\n```")
    return '\n\n'.join(parts) + '\n'

if __name__ == '__main__': (ROOT/'README.md').write_text(render())
