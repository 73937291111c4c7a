"""The documentation site: built from the notebooks with no network, every page's links and images checked, and the
home and lesson pages opened in headless Chromium, served as the README serves them."""
import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytest.importorskip('mkdocs', reason='the [docs] extra is not installed')
pytest.importorskip('material', reason='the [docs] extra is not installed')
from conftest import served_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT/'tools'))
from build_docs import check_links, doc_url, notebooks, page_of

CHROMIUM = '/usr/bin/chromium'  # Debian's package; .ci/run installs it
NBS = ROOT/'nbs'


def html_of(rel:Path) -> str: return page_of(rel)[:-3] + '.html'

@pytest.fixture(scope='module')
def site(env, tmp_path_factory):
    "The site built by the README's command from this checkout, offline (the fixture's proxy refuses every connection)."
    out = tmp_path_factory.mktemp('docs')/'site'
    res = subprocess.run([sys.executable, str(ROOT/'tools'/'build_docs.py'), '--out', str(out)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=900, check=False)  # a guard against a hang
    assert res.returncode == 0, f"build_docs.py exited {res.returncode}\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}"
    print(res.stdout.splitlines()[-1])
    return out

@pytest.mark.slow
def test_a_page_per_notebook_in_nbdevs_order(site):
    rels = notebooks(NBS)
    assert rels[0] == Path('index.ipynb') and Path('00_data.ipynb') in rels and Path('lessons/01_pets.ipynb') in rels
    assert len(rels) == len(list(NBS.glob('*.ipynb'))) + len(list(NBS.glob('lessons/*.ipynb')))
    for rel in rels:
        assert (site/html_of(rel)).is_file() and (site/(html_of(rel) + '.md')).is_file(), rel
    nav = re.search(r'<nav class="md-nav md-nav--primary".*?</nav>\s*</div>', (site/'index.html').read_text(),
                    re.DOTALL).group(0)
    linked = [h for h in dict.fromkeys(re.findall(r'href="([^"#]+\.html)"', nav))]
    assert linked == [html_of(r) for r in rels], linked  # index, the library's notebooks in order, then the lessons
    home = (site/'index.html').read_text()
    assert '<h2 id="the-documentation-site">' in home and 'tools/build_docs.py' in home  # the README is the home page

@pytest.mark.slow
def test_show_doc_for_every_export(site):
    "Each exported function shows its signature with docments, as nbdev's `show_doc` does, under its own anchor."
    data, samples = (site/'data.html').read_text(), (site/'samples.html').read_text()
    for name in ('pets_images', 'pets_dataloaders', 'check_split'):
        assert f'id="{name}"' in data, name
    section = samples[samples.index('id="make_sample_pets"'):][:6000]
    assert 'n_per_class' in section and 'images per breed' in section  # a parameter and its docment
    assert 'Write a synthetic dataset in the Oxford layout' in section  # the docstring
    for page, name in (('core.html', 'petserror'), ('core.html', 'range'), ('train.html', 'fit_head'),
                       ('predict.html', 'predict'), ('export.html', 'export_onnx'), ('calibrate.html', 'calibrate'),
                       ('app.html', 'write_space'), ('cli.html', 'main')):
        assert f'id="{name}"' in (site/page).read_text(), (page, name)
    lesson = (site/'lessons/pets.html').read_text()
    assert 'href="../learner.html#pets_learner"' in lesson  # a name in backticks links to its entry

@pytest.mark.slow
def test_no_broken_link_or_image(site):
    chk = check_links(site, base=urlsplit(doc_url()).path or '/')  # 404.html links from the published path
    print(f"{chk['pages']} pages, {chk['links']} internal links and images; external, not followed: {chk['external']}")
    assert chk['pages'] == len(notebooks(NBS)) + 1  # and 404.html
    assert not chk['broken'], chk['broken'][:20]
    assert chk['links'] > 500
    for md in site.rglob('*.html.md'):  # the Markdown copies: their links and images too
        for url in re.findall(r'\]\(([^)\s]+)\)', md.read_text()):
            if not urlsplit(url).scheme:
                target = (md.parent/urlsplit(url).path).resolve()
                assert target.is_file() and site.resolve() in target.parents, (md.relative_to(site), url)
    imgs = re.findall(r'<img [^>]*src="([^"]+)"', (site/'lessons/pets.html').read_text())
    sizes = [(site/'lessons'/src).stat().st_size for src in imgs]  # the saved figures: each a real image, most of
    assert len(imgs) >= 6 and min(sizes) > 1_000 and sum(s > 10_000 for s in sizes) >= 6, sizes  # them pictures

def test_check_links_finds_what_is_broken(tmp_path):
    (tmp_path/'a').mkdir()
    (tmp_path/'index.html').write_text('<a href="a/b.html#here">b</a><a href="a/b.html#gone">x</a><img src="pic.png">'
                                       '<a href="https://example.org/">out</a><a href="#top" id="top">top</a>')
    (tmp_path/'a'/'b.html').write_text('<h2 id="here">h</h2><a href="../../outside.html">o</a>'
                                       '<a href="/index.html">r</a>')
    chk = check_links(tmp_path)
    assert chk['pages'] == 2 and chk['external'] == ['https://example.org/']
    assert sorted((p, u) for p, u, _ in chk['broken']) == [('a/b.html', '../../outside.html'),
                                                          ('index.html', 'a/b.html#gone'), ('index.html', 'pic.png')]
    # not under the published path
    assert ('a/b.html', '/index.html') in [b[:2] for b in check_links(tmp_path, base='/pets/')['broken']]

def docs_line(py:Path) -> str:
    doc = ast.get_docstring(ast.parse(py.read_text())) or ''
    return next((l[5:].strip() for l in doc.splitlines() if l.startswith('Docs:')), '')

@pytest.mark.slow
def test_modules_name_only_pages_the_site_has(site, monkeypatch):
    "The `Docs:` lines come from pyproject's Documentation URL (unset: none); set, nbdev names pages the site has."
    base = doc_url()
    for py in sorted((ROOT/'pets_classifier').glob('*.py')):
        url = docs_line(py)
        if not base: assert not url, f"{py.name} names {url}, but pyproject.toml names no Documentation URL"
        elif url: assert url.startswith(base) and (site/url[len(base):].lstrip('/')).is_file(), (py.name, url)
        assert 'pets-classifier.github.io' not in py.read_text(), py.name
    assert 'pets-classifier.github.io' not in (ROOT/'pyproject.toml').read_text()
    import nbdev.config as C
    cfg = C.get_config(ROOT)
    proj = C._load_toml(cfg.config_file)
    urls = {'Documentation': 'https://example.org/pets/'}
    fake = C.ConfigToml(proj['tool']['nbdev'], {**proj['project'], 'urls': urls}, cfg.config_file)
    monkeypatch.setattr(C, 'get_config', lambda *a, **k: fake)
    code = lambda rel: ''.join(''.join(c['source']) + '\n' for c in json.loads((NBS/rel).read_text())['cells']
                               if c['cell_type'] == 'code')
    exported = [rel for rel in notebooks(NBS) if re.search(r'^\s*#\|\s*default_exp ', code(rel), re.MULTILINE)]
    assert len(exported) >= 10
    for rel in exported:
        url = C.nbpath2docurl(NBS/rel)  # what nbdev-export would write at the end of the module's docstring
        assert url.startswith('https://example.org/pets/'), url
        assert (site/url[len('https://example.org/pets/'):]).is_file(), url

@pytest.fixture(scope='module')
def served(site, tmp_path_factory):
    "The README's `python -m http.server -d docs-site`, on a free loopback port; its URL."
    log = tmp_path_factory.mktemp('http')/'http.log'
    with open(log, 'w') as out:  # port 0: the server takes a free one and prints it
        proc = subprocess.Popen([sys.executable, '-u', '-m', 'http.server', '-d', site, '--bind', '127.0.0.1', '0'],
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        yield served_url(proc, log, r'\((http://127\.0\.0\.1:\d+/)\)')
    finally:
        proc.terminate(); proc.wait(timeout=20)

@pytest.mark.slow
def test_pages_in_a_browser(served, tmp_path):
    "Headless Chromium: the home and lesson pages have their title, figures and a search box that finds a function."
    if not Path(CHROMIUM).exists():
        if os.environ.get('CI'): pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright
    shots = Path(os.environ.get('PETS_DOCS_SCREENSHOTS') or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    outside = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=['--no-sandbox'])
        try:
            page = browser.new_page(viewport={'width': 1280, 'height': 900})
            page.on('request', lambda r: r.url.startswith((served, 'data:', 'blob:')) or outside.append(r.url))
            page.goto(served)
            expect(page).to_have_title(re.compile('pets_classifier'))
            expect(page.locator('article h1')).to_contain_text('pets_classifier')
            search = page.locator('input[data-md-component="search-query"]')
            expect(search).to_be_attached()
            page.screenshot(path=shots/'home.png')
            search.click()
            result = page.locator('.md-search-result__item a[href*="samples.html"]').first
            # the search index loads in a web worker: a query typed before it is ready gets no answer
            for _ in range(12):
                search.fill('')
                search.press_sequentially('make_sample_pets')
                try: expect(result).to_be_visible(timeout=5_000); break
                except AssertionError: pass
            expect(result).to_be_visible()
            page.screenshot(path=shots/'search.png')

            page.goto(served + 'lessons/pets.html')
            expect(page).to_have_title(re.compile("Lesson 1: what's your pet"))
            expect(page.locator('article h1')).to_contain_text("Lesson 1: what's your pet?")
            expect(page.locator('input[data-md-component="search-query"]')).to_be_attached()
            figures = page.locator('article img')
            expect(figures.first).to_be_visible()
            widths = [figures.nth(i).evaluate('img => img.complete && img.naturalWidth')
                      for i in range(figures.count())]
            assert len(widths) >= 6 and all(w > 100 for w in widths), widths  # every figure loaded
            page.screenshot(path=shots/'lesson.png')
            figures.first.scroll_into_view_if_needed()
            page.screenshot(path=shots/'lesson-figure.png')

            page.goto(served + 'train.html#fit_head')
            expect(page.locator('#fit_head')).to_be_visible()
            page.screenshot(path=shots/'train.png')
        finally: browser.close()
    assert not outside, f"the site asked for files outside the server: {outside[:5]}"
