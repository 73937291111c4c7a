"The lesson as a student opens it: the README's command starts JupyterLab on the lesson notebook."
import json, re, subprocess, sys, urllib.error, urllib.request
from pathlib import Path
import pytest
from conftest import served_url

ROOT = Path(__file__).resolve().parent.parent
JUPYTER = str(Path(sys.executable).parent/'jupyter')
LESSON = 'nbs/lessons/01_pets.ipynb'

def lesson_command() -> str:
    "The one command of the README's lesson section."
    section = (ROOT/'README.md').read_text().split('## Follow the lesson', 1)[1].split('\n## ', 1)[0]
    cmds = [l for l in section.splitlines() if l.startswith('python3 -m venv .venv')]
    assert len(cmds) == 1, cmds
    return cmds[0]

def test_readme_lesson_command_installs_the_extra_and_opens_the_lesson():
    cmd = lesson_command()
    assert 'pip install -e ".[lesson]"' in cmd and cmd.endswith(f'jupyter lab --allow-root {LESSON}')

def test_lesson_extra_brings_jupyterlab():
    res = subprocess.run([JUPYTER, 'lab', '--version'], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert re.fullmatch(r'4\.\d+\.\d+\S*', res.stdout.strip()), res.stdout

def _get(url:str) -> tuple:
    "(status, body) of a GET on loopback, bypassing any proxy."
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as r: return r.status, r.read().decode()

@pytest.mark.slow
def test_jupyterlab_serves_the_lesson_headless(tmp_path):
    "What the README command does, without a browser: JupyterLab on the lesson, fetched over HTTP."
    cmd = lesson_command().rsplit('&& ', 1)[1].split()  # `jupyter lab --allow-root nbs/lessons/01_pets.ipynb`
    log = open(tmp_path/'jupyter.log', 'w')  # a file, not a pipe: a chatty server never blocks on it
    server = subprocess.Popen([JUPYTER, *cmd[1:], '--no-browser', '--port=0', '--ip=127.0.0.1',
                               '--IdentityProvider.token=', '--ServerApp.password=',
                               '--ServerApp.disable_check_xsrf=True'],
                              cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                              env={'HOME': str(tmp_path), 'PATH': str(Path(sys.executable).parent),
                                   'JUPYTER_CONFIG_DIR': str(tmp_path/'cfg')})
    try:
        base = served_url(server, tmp_path/'jupyter.log', r'(http://127\.0\.0\.1:\d+)/lab')  # port 0: its own choice
        name = Path(LESSON).name  # given a notebook, JupyterLab serves the notebook's folder
        status, body = _get(f'{base}/api/contents/{name}')
        nb = json.loads(body)
        assert status == 200 and nb['type'] == 'notebook'
        assert nb['content']['cells'][0]['source'].startswith("# Lesson 1: what's your pet?")
        status, page = _get(f'{base}/lab/tree/{name}')
        assert status == 200 and 'JupyterLab' in page
    finally:
        server.terminate()
        try: server.wait(timeout=20)
        except subprocess.TimeoutExpired: server.kill(); server.wait()
        log.close()
    out = (tmp_path/'jupyter.log').read_text()
    assert 'Traceback' not in out, out[-2000:]

FASTAI_CALLS = {  # what the course's lesson 1 calls, in fastai v2: each must be in a code cell, not only in prose
    'untar_data': r'\buntar_data\(URLs\.PETS\)', 'path.ls()': r'\bpath\.ls\(\)',
    'get_image_files': r'\bget_image_files\(',
    'the regex tried on one name': r'\bre\.findall\(pat, fname\.name\)', 'DataBlock': r'\bDataBlock\(',
    'RegexLabeller': r'\bRegexLabeller\(', 'item_tfms': r'\bitem_tfms=', 'batch_tfms': r'\bbatch_tfms=',
    'summary': r'\.summary\(', 'show_batch': r'\.show_batch\(', 'vision_learner': r'\bvision_learner\(',
    'fit_one_cycle': r'\.fit_one_cycle\(', 'fine_tune': r'\.fine_tune\(', 'learn.save': r'\blearn\.save\(',
    'learn.load': r'\blearn\.load\(', 'ClassificationInterpretation': r'\bClassificationInterpretation\.from_learner\(',
    'plot_top_losses': r'\binterp\.plot_top_losses\(', 'most_confused': r'\.most_confused\(',
    'plot_confusion_matrix': r'\.plot_confusion_matrix\(', 'unfreeze': r'\.unfreeze\(\)', 'lr_find': r'\.lr_find\(',
    'slice': r'\bslice\(lr_max ?/ ?100, lr_max\)', 'to_fp16': r'\.to_fp16\(\)',
    'GradientAccumulation': r'\bGradientAccumulation\(',
    'export': r'\.export\(', 'load_learner': r'\bload_learner\(', 'predict': r'\.predict\(', 'tta': r'\.tta\(\)',
    'ImageClassifierCleaner': r'\bImageClassifierCleaner\(learn\)'}

def code_cells(name:str) -> str:
    "The source of every code cell of a notebook, comments removed (a call must run, not be mentioned)."
    nb = json.loads((ROOT/name).read_text())
    src = '\n'.join(''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'code')
    return re.sub(r'#[^\n]*', '', src)

def test_lesson_calls_fastai_itself():
    "The lesson teaches the course's calls: each of them is in a code cell of lesson 1."
    code = code_cells(LESSON)
    missing = [name for name, rx in FASTAI_CALLS.items() if not re.search(rx, code)]
    assert not missing, missing

def test_lesson_2_starts_from_lesson_1s_model():
    "Lesson 2 loads what lesson 1 saved (export.pkl and the model files in the run folder), the course's way and ours."
    one, two = code_cells(LESSON), code_cells('nbs/lessons/02_deploy.ipynb')
    assert "save_run(best, run" in one and "best.export(run/'export.pkl')" in one
    assert "'../../pets-run'" in one and "'../../pets-run'" in two
    assert "load_learner(run/'export.pkl')" in two and 'load_model(run)' in two
