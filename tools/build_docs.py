"""Build the documentation site from the notebooks in `nbs/`, offline: python tools/build_docs.py [--out docs-site]

`nbdev-docs` needs Quarto, which cannot be installed here, so this does what it does with nbdev's own notebook
processing and MkDocs (Material theme) in Quarto's place:

1. every notebook under `nbs/` goes through nbdev's processors (`FilterDefaults`): `show_doc` cells are added after
   each exported function or class and run, so the page shows its signature and docments as nbdev shows them;
   exported source, `#| hide` cells and directives go. Only the cells `show_doc` needs are run (exported cells,
   cells of nothing but imports, `show_doc` calls), never a cell that trains: the other outputs are the ones saved
   in the notebook (the lesson's figures and tables come from its real run);
2. each processed notebook becomes a Markdown page named as nbdev names it (`nbs/02b_train.ipynb` -> `train.html`,
   `nbs/lessons/01_pets.ipynb` -> `lessons/pets.html`), figures written beside it, `index.ipynb` (the README) as the
   home page, in nbdev's order; a name in backticks that the library exports links to its `show_doc`;
3. `mkdocs build --strict` (settings in `mkdocs.yml`) makes the site: search box, no fonts or scripts from the
   internet. Each page also gets a Markdown copy at `<page>.html.md`, where nbdev's `Docs:` lines point;
4. every page's internal links, anchors and images are checked (`check_links`); a broken one fails the build.

The published address is set in one place, `Documentation` under `[project.urls]` in `pyproject.toml` (none now):
nbdev's `Docs:` lines and the site's canonical URLs both come from it.
"""
import argparse
import html.parser
import os
import posixpath
import re
import shutil
import subprocess
import sys
import tempfile
import time
from base64 import b64decode
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

import yaml

ROOT = Path(__file__).resolve().parent.parent

MARK = 'pets-doc-link:'  # our own symbols' links, made relative once every page's anchors are known

# ---------------------------------------------------------------------------------------------------------------
# The notebooks and their pages

def notebooks(nbs:Path) -> list:
    "The notebooks under `nbs` in nbdev's order: index first, then by path, top-level notebooks before folders."
    from nbdev.doclinks import nbglob
    nbs = Path(nbs)
    files = [Path(f).relative_to(nbs) for f in nbglob(nbs, func=Path)]
    return sorted(files, key=lambda p: (p.name != 'index.ipynb' or len(p.parts) > 1, len(p.parts) > 1, p.parts))

def page_of(rel:Path) -> str:
    "The Markdown source of the page for notebook `rel` (relative to `nbs/`), named as nbdev names its HTML page."
    from nbdev.config import nbpath2html
    return nbpath2html(rel).with_suffix('.md').as_posix()

def _relpath(target:str, page:str) -> str: return posixpath.relpath(target, posixpath.dirname(page) or '.')

# ---------------------------------------------------------------------------------------------------------------
# nbdev's processing, running only what `show_doc` needs

class DocsError(Exception):
    "A notebook cell that `show_doc` needs failed."

def _strict_eval(cell) -> bool:
    "Run a cell for `show_doc` only if it is exported, holds nothing but imports, or calls `show_doc`."
    import ast

    from nbdev.processors import _show_docs, cell_lang
    if cell.cell_type != 'code' or cell_lang(cell) != 'python' or not cell.source: return False
    if str(cell.directives_.get('eval', '')).lower() == 'false': return False
    if cell.directives_.keys() & {'export', 'exports', 'exporti', 'exec_doc'}: return True
    try: trees = cell.parsed_()
    except SyntaxError: return False
    if not trees: return False
    return all(isinstance(t, (ast.Import, ast.ImportFrom)) for t in trees) or bool(_show_docs(trees))

def _procs():
    "nbdev's docs processors, with `exec_show_docs` running only the cells `show_doc` needs and no warning cell."
    from nbdev import processors as P

    class exec_show_docs_only(P.exec_show_docs):
        def __call__(self, cell):
            if not self.nb.has_docs_ or not hasattr(self, 'k'): return
            if _strict_eval(cell): self.k.cell(cell)
            if (e := self.k.exc):
                raise DocsError(f"Error in cell {cell.idx_}:\n{cell.source}\n{type(e).__name__}: {e}") from e
    procs = P.FilterDefaults().procs()
    return [exec_show_docs_only if p is P.exec_show_docs else p for p in procs if p is not P.insert_warning]

def _link_own_symbols(lib:str):
    "Make nbdev's `add_links` link the library's public names (also without their module) to our own pages."
    from importlib import import_module

    from nbdev.doclinks import NbdevLookup
    syms = NbdevLookup().syms  # the table every `NbdevLookup()` shares (cached)
    for mod, d in import_module(f'{lib}._modidx').d['syms'].items():
        for sym, (url, _py) in d.items():
            short = sym[len(mod)+1:]
            if any(part.startswith('_') for part in short.split('.')): continue
            for name in (sym, short): syms[name] = MARK + url

def process(nb_path:Path):
    "The notebook at `nb_path` after nbdev's processing (`show_doc` cells added and run)."
    from fastcore.nbio import read_nb
    from nbdev.process import NBProcessor
    nb = read_nb(nb_path)
    old = os.environ.get('IN_TEST')
    os.environ['IN_TEST'] = '1'  # as nbdev's own processing does
    cwd = Path.cwd()
    os.chdir(nb_path.parent)  # cells run where the notebook lives, as in Jupyter
    try: NBProcessor(nb=nb, procs=_procs(), rm_directives='quarto').process()
    finally:
        os.chdir(cwd)
        if old is None: os.environ.pop('IN_TEST', None)
        else: os.environ['IN_TEST'] = old
    return nb

# ---------------------------------------------------------------------------------------------------------------
# A processed notebook as a Markdown page

_re_dir = re.compile(r'^\s*#\|\s*([\w-]+)\s*:?\s*(.*?)\s*$')
_re_sd_heading = re.compile(r'^(#{1,6}) (\S+)\s*$', re.MULTILINE)

def _directives(src:str):
    "Quarto's cell options left by nbdev (`#| echo: false`) and the code without them."
    lines, d = src.splitlines(), {}
    while lines and (m := _re_dir.match(lines[0])): d[m.group(1)] = m.group(2).lower(); lines.pop(0)
    return d, '\n'.join(lines).strip('\n')

def _text(x) -> str: return ''.join(x) if isinstance(x, list) else str(x)

def _fence(txt:str, lang='') -> str:
    "`txt` in a fenced code block whose fence is longer than any run of backticks inside."
    n = max([3] + [len(m) + 1 for m in re.findall(r'`{3,}', txt)])
    return f"{'`'*n}{lang}\n{txt}\n{'`'*n}"

def _stream_text(txt:str) -> str:
    "Terminal text as it finally showed: each line from its last carriage return (progress bars)."
    return '\n'.join(l.rsplit('\r', 1)[-1] if '\r' in l.rstrip('\r') else l.rstrip('\r')
                     for l in txt.split('\n')).strip('\n')

_prio = ['text/html', 'text/markdown', 'image/svg+xml', 'image/png', 'image/jpeg', 'image/gif', 'text/plain']
_ext = {'image/png': 'png', 'image/jpeg': 'jpg', 'image/gif': 'gif', 'image/svg+xml': 'svg'}

class Page:
    "The Markdown of one notebook's page: `md`, its `title`, the figures to write beside it, its `show_doc` anchors."
    def __init__(self, nb, page:str):
        self.page, self.files, self.anchors, self.n_fig = page, {}, set(), 0
        self.stem = posixpath.splitext(posixpath.basename(page))[0]
        fm = dict(getattr(nb, 'frontmatter_', {}) or {})
        self.title = str(fm.get('title') or self.stem)  # Markdown, for the page's heading
        self.plain = self.title.replace('`', '')  # for the navigation and the browser's title
        parts = []
        if desc := fm.get('description'): parts.append(f"{desc}\n{{: .nb-description }}")
        for i, cell in enumerate(nb.cells): parts += self.cell(cell, i)
        body = '\n\n'.join(p for p in parts if p and p.strip())
        meta = yaml.safe_dump({'title': self.plain, **({'description': str(desc)} if desc else {})}, allow_unicode=True,
                              width=1000)
        self.md = f"---\n{meta}---\n\n# {self.title}\n\n{body}\n"

    def cell(self, cell, i:int) -> list:
        src = _text(cell.get('source') or '')
        if cell.cell_type == 'markdown': return [src.strip()]
        if cell.cell_type != 'code': return []  # raw cells: the frontmatter nbdev already read
        d, code = _directives(src)
        if d.get('include') == 'false': return []
        res = [_fence(code, 'python')] if code.strip() and d.get('echo') != 'false' else []
        if d.get('output') == 'false': return res
        is_sd = code.lstrip().startswith('show_doc')
        for j, o in enumerate(cell.get('outputs', [])): res.append(self.output(o, f'{i}_{j}', is_sd))
        return res

    def output(self, o, name:str, is_sd:bool) -> str:
        kind = o.get('output_type')
        if kind == 'stream':
            txt = _stream_text(_text(o.get('text', '')))
            return _fence(txt, 'text') if txt.strip() else ''
        if kind == 'error':
            return _fence(re.sub(r'\x1b\[[0-9;]*m', '', '\n'.join(o.get('traceback', []))), 'text')
        data = o.get('data', {})
        mime = next((m for m in _prio if m in data), None)
        if mime is None: return ''
        val = _text(data[mime])
        if mime == 'text/markdown': return self.show_doc_md(val) if is_sd else val.strip()
        if mime == 'text/html': return f'<div class="nb-output" markdown="0">\n{val.strip()}\n</div>'
        if mime == 'text/plain': return _fence(val.strip('\n'), 'text') if val.strip() else ''
        fname = f'{self.stem}_files/output_{name}.{_ext[mime]}'
        self.files[fname] = val.encode() if mime == 'image/svg+xml' else b64decode(val)
        self.n_fig += 1
        return f'![Output {name.replace("_", ".")} of {self.plain}]({fname})'

    def show_doc_md(self, md:str) -> str:
        "nbdev's `show_doc` Markdown, its heading given the anchor nbdev's index links to (`checkreport.summary`)."
        def anchor(m):
            a = m.group(2).lower()
            self.anchors.add(a)
            return f'{m.group(1)} {m.group(2)} {{: #{a} .nb-doc }}'
        return _re_sd_heading.sub(anchor, md.strip(), count=1)

def resolve_links(pages:dict, md_target:bool):
    "Replace `MARK` links by relative ones to the page and anchor (`.md` for MkDocs, `.html` for the Markdown copies)."
    anchors = {p.page: p.anchors for p in pages.values()}
    def fix(page:str, txt:str) -> str:
        def sub(m):
            html_path, _, frag = m.group(1).partition('#')
            target = posixpath.splitext(html_path)[0] + '.md'
            if target not in anchors: return f'({m.group(1)})'  # unknown page: left for the link check to report
            have = anchors[target]
            if frag not in have: frag = frag.split('.')[0] if frag.split('.')[0] in have else ''  # a method: its class
            if not md_target: target = target[:-3] + '.html'
            return f'({_relpath(target, page)}{"#" + frag if frag else ""})'
        return re.sub(r'\(' + re.escape(MARK) + r'([^)\s]+)\)', sub, txt)
    return {k: fix(p.page, p.md) for k, p in pages.items()}

# ---------------------------------------------------------------------------------------------------------------
# Checking the built site

class _Links(html.parser.HTMLParser):
    "The ids and the links (href, src) of one HTML page."
    def __init__(self):
        super().__init__()
        self.ids, self.links = set(), []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k in ('id', 'name') if tag == 'a' else ('id',):
            if a.get(k): self.ids.add(a[k])
        for k in ('href', 'src'):
            if a.get(k) is not None and not (tag == 'link' and a.get('rel') == 'canonical'):
                self.links.append((tag, a[k]))

def check_links(site:Path, base:str='/') -> dict:
    """Every internal link, script, stylesheet and image of every HTML page under `site` must lead to a file there,
    and a `#fragment` to an id on that page. A link from the server's root (404.html has them) must start with `base`,
    the path the site is published under. Returns {'pages', 'links', 'broken': [(page, url, why)], 'external'}."""
    site, base = Path(site).resolve(), '/' + base.strip('/') + '/' if base.strip('/') else '/'
    parsed = {}
    for f in sorted(site.rglob('*.html')):
        p = _Links(); p.feed(f.read_text(encoding='utf-8')); parsed[f] = p
    broken, external, n = [], set(), 0
    for f, p in parsed.items():
        rel = f.relative_to(site).as_posix()
        for tag, url in p.links:
            scheme = urlsplit(url).scheme
            if scheme in ('http', 'https'): external.add(url); continue
            if scheme in ('mailto', 'data', 'javascript', 'blob'): continue
            n += 1
            path, frag = urldefrag(url)
            path = unquote(urlsplit(path).path)
            if not path: target = f
            elif path.startswith('/'):
                if not path.startswith(base): broken.append((rel, url, f'not under {base}')); continue
                target = Path(os.path.normpath(site/path[len(base):]))
                if target.is_dir(): target = target/'index.html'
            else:
                target = Path(os.path.normpath(f.parent/path))
                if target.is_dir(): target = target/'index.html'
            if site not in target.parents and target != site: broken.append((rel, url, 'outside the site')); continue
            if not target.is_file(): broken.append((rel, url, 'no such file')); continue
            if frag and target.suffix == '.html':
                ids = parsed[target].ids if target in parsed else set()
                if unquote(frag) not in ids:
                    broken.append((rel, url, f'no id {unquote(frag)!r} in {target.relative_to(site)}'))
            if tag == 'img' and target.stat().st_size == 0: broken.append((rel, url, 'empty image'))
    return {'pages': len(parsed), 'links': n, 'broken': broken, 'external': sorted(external)}

# ---------------------------------------------------------------------------------------------------------------
# The build

def doc_url(root:Path=ROOT) -> str:
    "The published address of the site: `Documentation` under `[project.urls]` in pyproject.toml, or ''."
    from nbdev.config import get_config
    return get_config(root).doc_url or ''  # as nbdev reads it for the modules' `Docs:` lines

def build(out:Path=ROOT/'docs-site', root:Path=ROOT, quiet:bool=False) -> dict:
    "Build the site from `root`/nbs into `out` (replaced), check its links; returns the check's result and timings."
    from nbdev.config import get_config
    t0, out = time.time(), Path(out).resolve()
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    cfg = get_config(root)
    nbs = cfg.path('nbs_path')
    _link_own_symbols(cfg.lib_path.name)
    pages = {}
    for rel in notebooks(nbs):
        t = time.time()
        page = Page(process(nbs/rel), page_of(rel))
        pages[rel] = page
        say(f"{rel.as_posix():28} -> {page.page[:-3]}.html ({len(page.anchors)} show_doc, {page.n_fig} figures, "
            f"{time.time()-t:.1f} s)")
    t_proc = time.time() - t0
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp)/'docs'
        for rel, md in resolve_links(pages, md_target=True).items():
            page = pages[rel]
            (src/page.page).parent.mkdir(parents=True, exist_ok=True)
            (src/page.page).write_text(md, encoding='utf-8')
            for fname, data in page.files.items():
                dest = src/posixpath.dirname(page.page)/fname
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(data)
        shutil.copy(root/'tools'/'docs.css', src/'docs.css')
        library = [{pages[r].plain: pages[r].page} for r in pages if len(r.parts) == 1 and r.name != 'index.ipynb']
        folders = {}
        for r, p in pages.items():
            if len(r.parts) > 1: folders.setdefault(r.parts[0], []).append({p.plain: p.page})
        nav = [{'Home': 'index.md'}, {'Library': library}] + [{k.capitalize(): v} for k, v in folders.items()]
        conf = {'INHERIT': str(root/'mkdocs.yml'), 'docs_dir': str(src), 'site_dir': str(out), 'nav': nav}
        if url := doc_url(root): conf['site_url'] = url
        (Path(tmp)/'mkdocs.yml').write_text(yaml.safe_dump(conf, sort_keys=False))
        t = time.time()
        res = subprocess.run([sys.executable, '-m', 'mkdocs', 'build', '--strict', '--clean',
                              '-f', str(Path(tmp)/'mkdocs.yml')],
                             check=False, capture_output=True, text=True,
                             env={**os.environ, 'NO_MKDOCS_2_WARNING': '1'})
        if res.returncode: raise SystemExit(f"mkdocs build failed:\n{res.stdout}\n{res.stderr}")
        t_mkdocs = time.time() - t
    for rel, md in resolve_links(pages, md_target=False).items():  # nbdev's `Docs:` lines point at these
        (out/(pages[rel].page[:-3] + '.html.md')).write_text(md, encoding='utf-8')
    chk = check_links(out, base=urlsplit(doc_url(root)).path or '/')
    chk.update(seconds=time.time() - t0, seconds_notebooks=t_proc, seconds_mkdocs=t_mkdocs,
               pages_built=[p.page[:-3] + '.html' for p in pages.values()])
    say(f"{chk['pages']} HTML pages, {chk['links']} internal links and images checked, {len(chk['broken'])} broken, "
        f"{len(chk['external'])} external links not followed; built in {chk['seconds']:.0f} s "
        f"(notebooks {t_proc:.0f} s, mkdocs {t_mkdocs:.0f} s) into {out}")
    for b in chk['broken']: say('BROKEN', *b)
    return chk

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default=str(ROOT/'docs-site'), help='folder to build into, replaced (default: docs-site)')
    ap.add_argument('--quiet', action='store_true', help='print nothing but a broken link')
    args = ap.parse_args()
    chk = build(Path(args.out), quiet=args.quiet)
    if args.quiet:
        for b in chk['broken']: print('BROKEN', *b)
    sys.exit(1 if chk['broken'] else 0)
