"Shared fixtures: a synthetic sample, an offline environment, and one model trained by the `pets` command."
import os, subprocess, sys
from pathlib import Path
from types import SimpleNamespace
import pytest
from pets_classifier.samples import scratch_dir

# Gradio copies every upload and example into its temporary folder, read once as it is imported: one of the run's
# own, removed when pytest ends, rather than /tmp/gradio, which kept them after every run.
os.environ.setdefault('GRADIO_TEMP_DIR', str(scratch_dir('pets-gradio-')))

PETS = str(Path(sys.executable).parent/'pets')  # the installed console script

@pytest.fixture(scope='session')
def env(tmp_path_factory):
    "Environment for `pets` runs: private caches, and a proxy that refuses connections so 'offline' is certain."
    home = tmp_path_factory.mktemp('home')
    proxy = 'http://127.0.0.1:9'
    return {**os.environ, 'PETS_CACHE': str(home/'cache'), 'FASTAI_HOME': str(home/'fastai'),
            'https_proxy': proxy, 'HTTPS_PROXY': proxy, 'http_proxy': proxy, 'HTTP_PROXY': proxy,
            'HF_HUB_OFFLINE': '1', 'TORCH_HOME': str(home/'torch')}

# What `env` sets over the environment the tests run in (the rest of it is os.environ at the session's start)
ENV_SET = ('PETS_CACHE', 'FASTAI_HOME', 'TORCH_HOME', 'HF_HUB_OFFLINE', 'https_proxy', 'HTTPS_PROXY', 'http_proxy',
           'HTTP_PROXY')

def checked(res, check:int=None):
    "`res` (status, stdout, stderr of a `pets` run), asserting its status is `check` unless that is None."
    if check is not None:
        assert res.returncode == check, f"exit {res.returncode}\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res

# The `trained` fixture's `pets train` options (tests that compare with that run use them too)
TRAINED_ARGS = ['--arch', 'efficientnet_lite0', '--size', 64, '--bs', 8, '--freeze-epochs', 2, '--epochs', 1,
                '--lr', 3e-3, '--lr-find-iters', 12]

def in_process(env:dict):
    """`pets ARGS...` run by this process, in `env`, its output captured; returns status, stdout and stderr. What the
    command runs, but for the 8 s a `pets` process spends importing torch and fastai (most of a small run's time).
    Warnings go to its stderr as a process shows them (Python's default filters, each warning once a run), not to
    pytest's record of them, so a test of "one line on stderr" sees them."""
    import contextlib, io, warnings
    from unittest import mock
    from pets_classifier.cli import main
    def run(*args, check=None):
        out, err = io.StringIO(), io.StringIO()
        with mock.patch.dict(os.environ, {k: env[k] for k in ENV_SET}), contextlib.redirect_stdout(out), \
             contextlib.redirect_stderr(err), warnings.catch_warnings():
            warnings.resetwarnings(); warnings.simplefilter('default')  # a fresh interpreter's filters:
            for hidden in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
                warnings.filterwarnings('ignore', category=hidden)
            warnings.showwarning = lambda message, category, filename, lineno, file=None, line=None: sys.stderr.write(
                warnings.formatwarning(message, category, filename, lineno, line))  # not pytest's recorder
            status = main(list(map(str, args)))
        return checked(SimpleNamespace(returncode=status, stdout=out.getvalue(), stderr=err.getvalue()), check)
    return run

@pytest.fixture(scope='session')
def pets(env):
    "Run `pets ARGS...` in this process (`in_process`): for the tests of what a command does."
    return in_process(env)

@pytest.fixture
def pets_in_process(env):
    "`pets`, for the fast tier: a test that uses it trains nothing (or a step), so it need not be marked slow."
    return in_process(env)

@pytest.fixture(scope='session')
def pets_process(env):
    """Run the installed `pets` console script as a process; returns the CompletedProcess with text stdout and stderr:
    for what only a process shows (its entry point, exit status, signals, a fresh interpreter's imports)."""
    def run(*args, check=None):
        return checked(subprocess.run([PETS, *map(str, args)], env=env, capture_output=True, text=True, timeout=900),
                       check)
    return run

SLOW_FIXTURES = {'pets', 'pets_process', 'trained', 'site', 'server'}  # the command, a training, the site, a server

# Session fixtures that cost a training or a build: under `pytest -n 2 --dist loadgroup` their tests share a worker,
# so each is made once (`trained` and `tracked` together: `pets runs` reads both)
SHARED_FIXTURES = {'run': {'trained', 'tracked'}, 'site': {'site'}}

@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's, which reads the groups
def pytest_collection_modifyitems(items):
    """The fast tier (pytest -m 'not slow') stays fast: a test that uses a slow fixture must be marked slow. Tests of
    one costly session fixture are grouped for pytest-xdist."""
    unmarked = [i.nodeid for i in items
                if SLOW_FIXTURES & set(getattr(i, 'fixturenames', ())) and not i.get_closest_marker('slow')]
    if unmarked:
        raise pytest.UsageError(f"mark these @pytest.mark.slow (they use {', '.join(sorted(SLOW_FIXTURES))}): "
                                f"{unmarked}")
    for item in items:  # with pytest-xdist's --dist loadgroup, the tests of one shared fixture run in one worker
        if group := next((g for g, fixtures in SHARED_FIXTURES.items()
                          if fixtures & set(getattr(item, 'fixturenames', ()))), None):
            item.add_marker(pytest.mark.xdist_group(group))

@pytest.fixture(scope='session')
def sample(tmp_path_factory):
    "A synthetic dataset: 4 breeds, 8 images each, 64 px."
    from pets_classifier.samples import make_sample_pets
    return make_sample_pets(tmp_path_factory.mktemp('sample'), n_per_class=8, breeds=4, size=64)

@pytest.fixture(scope='session')
def trained(pets, sample, tmp_path_factory):
    "The folder of a model trained on `sample` with the offline backbone, and the train run's result."
    out = tmp_path_factory.mktemp('run')/'model'
    res = pets('train', '--data', sample, *TRAINED_ARGS, '--out', out, check=0)
    return out, res

def served_url(proc:subprocess.Popen, log:Path, pattern:str) -> str:
    """The address a server started as `proc` prints to `log` (the first group of `pattern`), once it accepts
    connections: each server picks its own free port and says which, so no port is chosen here and then lost to another
    program; some say it before they listen (JupyterLab). Fails if the server exits first."""
    import re, socket, time
    from urllib.parse import urlsplit
    def accepts(url):
        try: socket.create_connection((urlsplit(url).hostname, urlsplit(url).port), timeout=1).close()
        except OSError: return False
        return True
    for _ in range(3600):  # a guard against a hang (15 minutes), not a limit on how fast the machine is
        if (found := re.search(pattern, log.read_text())) and accepts(found.group(1)): return found.group(1)
        assert proc.poll() is None, f"the server exited {proc.returncode}:\n{log.read_text()[-3000:]}"
        time.sleep(0.25)
    raise AssertionError(f"the server did not listen at an address it said in 15 minutes:\n{log.read_text()[-3000:]}")

# `pets ARGS...` in a process that sends itself SIGNAL right after its first checkpoint is written: at a known point of
# the run, however fast or slow the machine, rather than when a test polling from outside happens to see the file.
SIGNAL_AFTER_CHECKPOINT = """
import os, signal, sys
import pets_classifier.train as train
from pets_classifier.cli import main
save, sig, sent = train.save_checkpoint, getattr(signal, sys.argv[1]), []
def save_then_signal(*args, **kwargs):
    dest = save(*args, **kwargs)
    if not sent: sent.append(dest); os.kill(os.getpid(), sig)
    return dest
train.save_checkpoint = save_then_signal
sys.exit(main(sys.argv[2:]))
"""

def signalled_after_checkpoint(signame:str, *args, env=None) -> subprocess.CompletedProcess:
    "Run `pets ARGS...` sending itself `signame` ('SIGINT', 'SIGTERM') once its first checkpoint is on disk."
    return subprocess.run([sys.executable, '-c', SIGNAL_AFTER_CHECKPOINT, signame, *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=900)
