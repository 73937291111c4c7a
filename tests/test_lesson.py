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

# What a saved output must not hold: this machine's absolute paths, a Python warning, a traceback, a stale progress bar.
MACHINE_PATH = re.compile(r"(?<![\w.])(/work/|/root/|/tmp/|/home/|/Users/|[A-Z]:\\+Users|/usr/lib/|/usr/local/lib/)"
                          r"|site-packages|\.venv/")
PY_WARNING = re.compile(r'\b[A-Z]\w*Warning: ')  # FutureWarning: ..., UserWarning: ... (not a sentence's "Warning:")
# a bar that never moved, as fastprogress writes one (single quotes): left over an empty table
STALE_BAR = re.compile(r'''<progress[^>]*value=['"]0['"]''')

def output_problems(nb:dict) -> list:
    "(cell, what) for each saved output of `nb` that holds a path of this machine, a warning or a traceback."
    found = []
    for i, c in enumerate(nb['cells']):
        for o in c.get('outputs', []):
            if o['output_type'] == 'error': found.append((i, f"traceback: {o.get('ename')}")); continue
            if o.get('name') == 'stderr': found.append((i, 'stderr: ' + ''.join(o['text'])[:100]))
            texts = [''.join(o.get('text', ''))] + [''.join(v) for k, v in o.get('data', {}).items()
                                                    if k.startswith('text/') and isinstance(v, (str, list))]
            for t in texts:
                for rx, what in ((MACHINE_PATH, 'absolute path'), (PY_WARNING, 'warning'), (STALE_BAR, 'stale bar')):
                    if m := rx.search(t): found.append((i, f"{what}: {t[max(0, m.start() - 40):m.end() + 40]!r}"))
    return found

NOTEBOOKS = sorted(str(p.relative_to(ROOT)) for p in (ROOT/'nbs').rglob('*.ipynb')
                   if '.ipynb_checkpoints' not in p.parts)

def test_output_checks_catch_what_they_should():
    "Each kind of bad output is caught, and plain outputs are not."
    from fastprogress.core import html_progress_bar
    def nb(*outs): return {'cells': [{'cell_type': 'code', 'source': '', 'outputs': list(outs)}]}
    bad = [{'output_type': 'error', 'ename': 'ValueError', 'evalue': '', 'traceback': []},
           {'output_type': 'stream', 'name': 'stderr', 'text': ['something\n']},
           {'output_type': 'stream', 'name': 'stdout', 'text': ['run folder: /work/main/pets-run\n']},
           {'output_type': 'execute_result', 'data': {'text/plain': "'/tmp/tmpxjq_xl5q'"}},
           {'output_type': 'stream', 'name': 'stdout', 'text': ['x.py:3: FutureWarning: `torch.jit.script`']},
           {'output_type': 'display_data', 'data': {'text/html': html_progress_bar(0, 2, '')}}]  # fastprogress's own
    for o in bad: assert output_problems(nb(o)), o
    good = {'output_type': 'stream', 'name': 'stdout',
            'text': ["Warning: the validation set has no images of 2 classes\n", "run folder: ../../pets-run\n",
                     "(#3) [Path('Abyssinian_1.jpg'),Path('Bengal_1.jpg')]; 3e-3/100 km/h\n"]}
    assert not output_problems(nb(good))

@pytest.mark.parametrize('name', NOTEBOOKS)
def test_saved_outputs_are_clean(name):
    "No saved output in nbs/ holds an absolute path of the machine it ran on, a warning or a traceback."
    problems = output_problems(json.loads((ROOT/name).read_text()))
    assert not problems, '\n'.join(f"cell {i}: {what}" for i, what in problems)

COURSE_PATH = {  # lesson 1's code cells, as the course writes them: each argument in the cell, not in a helper
    'a backbone named in vision_learner': r"\bvision_learner\(dls, (resnet34|'\w+'), metrics=error_rate\b",
    "the course's resnet34, on a GPU": r"\bvision_learner\(dls, resnet34, metrics=error_rate\b",
    'an epoch count written in fit_one_cycle or fine_tune': r"\.(fit_one_cycle|fine_tune)\(\d+[,)]",
    'from_name_re': r'\bImageDataLoaders\.from_name_re\(path, ', 'learn.model': r'\blearn\.model\b',
    'plot_loss': r'\blearn\.recorder\.plot_loss\(\)',
    "lr_find's own plot": r'\blearn\.lr_find\((?![^)]*show_plot=False)[^)]*\)'}

def test_lesson_1_writes_the_course_path_literally():
    "A backbone by name in `vision_learner`, an epoch count in `fit_one_cycle`, and the course's other calls."
    code = code_cells(LESSON)
    missing = [name for name, rx in COURSE_PATH.items() if not re.search(rx, code)]
    assert not missing, missing
    assert not re.search(r'\bfrom pets_classifier\.\w+ import [^\n]*\bplot_top_losses\b', code), \
        "the library's plot_top_losses imported over fastai's name"

def test_course_path_checks_can_fail():
    "The checks above find nothing in code that hides the backbone and the epochs in settings."
    hidden = ("arch, weights = resolve_arch(setup.arch)\n"
              "learn = vision_learner(dls, arch, metrics=error_rate, **weights)\n"
              "learn.fit_one_cycle(setup.freeze_epochs, setup.lr)\n"
              "learn.lr_find(num_it=30, show_plot=False)")
    for name in ('a backbone named in vision_learner', 'an epoch count written in fit_one_cycle or fine_tune',
                 "lr_find's own plot"):
        assert not re.search(COURSE_PATH[name], hidden), name

def test_lesson_2_saves_a_picture_of_its_page():
    "Lesson 2 photographs its running page (headless Chromium), and the saved notebook keeps the picture."
    nb = json.loads((ROOT/'nbs/lessons/02_deploy.ipynb').read_text())
    shots = [c for c in nb['cells'] if c['cell_type'] == 'code' and 'page.screenshot(' in ''.join(c['source'])]
    assert len(shots) == 1, len(shots)
    assert any('image/png' in o.get('data', {}) for o in shots[0]['outputs']), 'no picture saved with the cell'
