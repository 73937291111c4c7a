"The lesson as a student opens it: the README's command starts JupyterLab on the lesson notebook."
import json, re, subprocess, sys, time, urllib.error, urllib.request
from pathlib import Path
import pytest
from conftest import free_port

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
    port = free_port()
    cmd = lesson_command().rsplit('&& ', 1)[1].split()  # `jupyter lab --allow-root nbs/lessons/01_pets.ipynb`
    log = open(tmp_path/'jupyter.log', 'w')  # a file, not a pipe: a chatty server never blocks on it
    server = subprocess.Popen([JUPYTER, *cmd[1:], '--no-browser', f'--port={port}', '--ip=127.0.0.1',
                               '--IdentityProvider.token=', '--ServerApp.password=',
                               '--ServerApp.disable_check_xsrf=True'],
                              cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                              env={'HOME': str(tmp_path), 'PATH': str(Path(sys.executable).parent),
                                   'JUPYTER_CONFIG_DIR': str(tmp_path/'cfg')})
    base = f'http://127.0.0.1:{port}'
    try:
        for _ in range(240):  # until the server answers at all
            try: _get(f'{base}/api/status'); break
            except urllib.error.HTTPError: break
            except OSError: time.sleep(0.5)
        else: raise AssertionError('JupyterLab did not answer in 120 s')
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
