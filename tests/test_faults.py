"""Faults and odd files (issue 27): damaged run files generated with Hypothesis, entries that are not files, SIGTERM.

The damaged files go through the command itself (`cli.main`, in process) for every command that reads them. A case
passes when the command either accepts the file (what was changed is still valid) or ends in one line on stderr,
exit 2, naming the file and the field; never a traceback. What comes after the reading (training, exporting, serving)
is replaced by `Reached`: a command that gets there has read and accepted the file.
"""
import contextlib, io, json, os, shutil, signal, socket, threading
from pathlib import Path
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

pytestmark = pytest.mark.filterwarnings('ignore::DeprecationWarning', 'ignore::FutureWarning')

# deterministic (the same cases on every run), bounded, no example database written beside the tests
FEW = dict(deadline=None, derandomize=True, database=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

class Reached(Exception):
    "Raised where the command goes on after reading its files: it accepted them."

@contextlib.contextmanager
def within(seconds:int):
    "Fail, rather than hang, when the block takes more than `seconds` (SIGALRM interrupts a blocking `open`)."
    def late(signum, frame): raise TimeoutError(f"still running after {seconds} s")
    saved = signal.signal(signal.SIGALRM, late)
    signal.alarm(seconds)
    try: yield
    finally: signal.alarm(0); signal.signal(signal.SIGALRM, saved)

def pets(*args) -> tuple:
    "`pets ARGS` in process: (status, stdout, stderr); status 'reached' when it got past reading its files."
    from pets_classifier.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), within(900):  # a hang, not a slow machine
        try: status = main(list(map(str, args)))
        except Reached: status = 'reached'
    return status, out.getvalue(), err.getvalue()

def one_line(res:tuple, file:str, fields:set=()) -> str:
    "Check `res` of `pets`: accepted, or exit 2 and one line naming `file` and one of `fields`; which of the two."
    status, _, err = res
    assert 'Traceback' not in err and 'Exception ignored' not in err, err
    if status in (0, 'reached'): return 'accepted'
    assert status == 2, (status, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('pets: error: '), err
    assert file in lines[0], (file, lines[0])
    if fields: assert any(repr(f) in lines[0] or f in lines[0] for f in fields), (fields, lines[0])
    print(lines[0])  # shown with pytest -s: what a user reads
    return 'refused'

# --- a run folder made in seconds: timm's 'test_efficientnet' (a few thousand weights), untrained ---

@pytest.fixture(scope='module')
def run(sample, tmp_path_factory, env):
    "A run folder as `pets train` leaves it (model, config, split, a checkpoint), and model.onnx beside it."
    import torch
    from pets_classifier.core import TrainSettings
    from pets_classifier.data import pets_dataloaders
    from pets_classifier.learner import pets_learner
    from pets_classifier.train import save_checkpoint
    from pets_classifier.inference import save_model, library_versions
    from pets_classifier.run_folder import write_config, write_split, CHECKPOINT
    saved = {k: os.environ.get(k) for k in ('PETS_CACHE', 'FASTAI_HOME', 'TORCH_HOME', 'HF_HUB_OFFLINE')}
    os.environ.update({k: env[k] for k in saved})
    out = tmp_path_factory.mktemp('tiny')/'run'
    dls = pets_dataloaders(sample, size=32, bs=8, num_workers=0, verbose=False, device='cpu')
    learn = pets_learner(dls, 'test_efficientnet', pretrained=False, precision='fp32', path=out)
    learn.run_state.calibration = dict(temperature=1.5, unknown='energy', thresholds=dict(energy=2.0, max_prob=0.3),
                                       ece_before=0.1, ece_after=0.05)
    save_model(learn, out)
    settings = TrainSettings(data=str(sample), arch='test_efficientnet', pretrained=False, size=32, bs=8, views=0,
                             freeze_epochs=1, epochs=1, lr_find_iters=0, precision='fp32', workers=0, out=str(out))
    write_config(dict(settings=settings, arch='test_efficientnet', vocab=list(dls.vocab), n_train=len(dls.train_ds),
                      n_valid=len(dls.valid_ds), device='cpu', device_name='x86_64', versions=library_versions(),
                      started='2026-01-01T00:00:00', resumed=[], resolved=dict(precision_why='fp32', lr='valley'),
                      results=dict(accuracy=0.5, error_rate=0.5, valid_loss=1.2, seconds=3.0, top5_accuracy=1.0,
                                   macro_f1=0.4, seconds_by_stage=dict(frozen=1.0),
                                   calibration=learn.run_state.calibration)), out)
    write_split([(f, dls.vocab[int(y)], part) for part, ds in (('train', dls.train_ds), ('valid', dls.valid_ds))
                 for f, y in zip(ds.items, ds.tls[1])], out)
    learn.create_opt()
    save_checkpoint(learn, out/CHECKPOINT, stage='frozen', epoch=1, n_epoch=1)
    onnx_model(out/'model.onnx', json.loads((out/'model.json').read_text()) | dict(precision='fp32'))
    assert torch.get_num_threads() >= 1
    yield out
    for k, v in saved.items():
        if v is None: os.environ.pop(k, None)
        else: os.environ[k] = v

def onnx_model(dest:Path, meta:dict, n:int=None) -> Path:
    "An ONNX graph as `pets export` writes one, for `meta`'s classes (or `n`) and size: each channel's mean, to logits."
    import onnx
    from onnx import helper, TensorProto
    from pets_classifier.predict import ONNX_META
    n = n or (len(meta['vocab']) if isinstance(meta.get('vocab'), list) else 4)
    nodes = [helper.make_node('Cast', ['images'], ['x'], to=TensorProto.FLOAT),
             helper.make_node('ReduceMean', ['x', 'axes'], ['mean'], keepdims=0),
             helper.make_node('MatMul', ['mean', 'w'], ['logits']),
             helper.make_node('Softmax', ['logits'], ['probabilities'], axis=1)]
    graph = helper.make_graph(
        nodes, 'pets', [helper.make_tensor_value_info('images', TensorProto.UINT8, ['batch', 32, 32, 3])],
        [helper.make_tensor_value_info('probabilities', TensorProto.FLOAT, ['batch', n]),
         helper.make_tensor_value_info('logits', TensorProto.FLOAT, ['batch', n])],
        [helper.make_tensor('axes', TensorProto.INT64, [2], [1, 2]),
         helper.make_tensor('w', TensorProto.FLOAT, [3, n], [0.01 * i for i in range(3 * n)])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 18)])
    helper.set_model_props(model, {ONNX_META: json.dumps(meta)})
    onnx.save(model, dest)
    return dest

@pytest.fixture
def after_reading(monkeypatch):
    "Whatever a command does once its files are read (train, export, serve, interpret) becomes `Reached`."
    import pets_classifier.pipeline as pipeline, pets_classifier.report as report, pets_classifier.check as check
    import torch
    def reached(*a, **k): raise Reached()
    monkeypatch.setattr(pipeline, '_learner', reached)
    monkeypatch.setattr(check, 'check_images', reached)  # pets check --labels --run: the run's photos, then heads
    monkeypatch.setattr(report, 'model_interpretation', reached)
    monkeypatch.setattr(torch.onnx, 'export', reached)
    try:
        import pets_classifier.app as app
        monkeypatch.setattr(app, 'serve', reached)
    except ModuleNotFoundError: pass  # no Gradio: `pets app` says so in one line

def commands(run:Path, data:Path, folder:Path) -> dict:
    "Every command that reads the run in `folder`, by the file it reads: name -> argv."
    m = folder
    return {'model.json': dict(predict=['predict', m, data], evaluate=['evaluate', m, '--data', data],
                               interpret=['interpret', m, '--data', data, '--out', folder.parent/'interpret'],
                               app=['app', m], export=['export', m, '--out', folder.parent/'x.onnx']),
            'config.json': dict(report=['report', m], resume=['train', '--resume', m],
                                config=['train', '--config', m/'config.json', '--out', folder.parent/'again'],
                                labels=['check', '--labels', '--run', m]),
            'model.onnx': dict(predict=['predict', m/'model.onnx', data],
                               evaluate=['evaluate', m/'model.onnx', '--data', data], app=['app', m/'model.onnx'])}

def copy_of(run:Path, tmp:Path) -> Path:
    "A fresh copy of the run folder (each example damages its own)."
    dest = tmp/'case'
    if dest.parent.exists(): shutil.rmtree(dest.parent)
    shutil.copytree(run, dest)
    return dest

# --- damage, generated ---

def paths(obj, at=()) -> list:
    "Every place in a JSON value: a tuple of keys and indices."
    inner = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    return [at] + [p for k, v in inner for p in paths(v, (*at, k))]

def changed(obj, at:tuple, value=None, delete:bool=False):
    "A copy of `obj` with the place `at` replaced by `value`, or deleted."
    obj = json.loads(json.dumps(obj))
    *up, last = at
    parent = obj
    for k in up: parent = parent[k]
    if delete: del parent[last]
    else: parent[last] = value
    return obj

JSON = st.recursive(st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=True) |
                    st.text(max_size=12),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                    max_leaves=6)

@st.composite
def damage(draw, obj:dict):
    "`obj` with one field, anywhere in it, deleted or given another JSON value; and the names on the way to it."
    places = paths(obj)[1:]
    at = draw(st.sampled_from(places))
    if draw(st.booleans()): new = changed(obj, at, delete=True)
    else: new = changed(obj, at, draw(JSON))
    return new, {k for k in at if isinstance(k, str)}

def cut_anywhere(data:bytes):
    "Where a file of these bytes could be cut short: anywhere before its end."
    return st.integers(0, len(data) - 1)

MODEL_CMDS, CONFIG_CMDS, ONNX_CMDS = ['predict', 'evaluate', 'interpret', 'app', 'export'], \
    ['report', 'resume', 'config', 'labels'], ['predict', 'evaluate', 'app']

@pytest.mark.parametrize('cmd', MODEL_CMDS)
def test_damaged_model_json(cmd, run, sample, tmp_path, after_reading):
    "model.json with a field deleted or replaced, anywhere in it: accepted, or one line naming the file and the field."
    meta, seen = json.loads((run/'model.json').read_text()), []
    @settings(max_examples=25 if cmd in ('predict', 'evaluate') else 12, **FEW)
    @given(damage(meta))
    def case(damaged):
        folder = copy_of(run, tmp_path)
        (folder/'model.json').write_text(json.dumps(damaged[0]))
        seen.append(one_line(pets(*commands(run, sample, folder)['model.json'][cmd]), 'model.json', damaged[1]))
    case()
    assert 'refused' in seen, seen  # the cases do damage

@pytest.mark.parametrize('cmd', MODEL_CMDS)
def test_model_files_cut_short(cmd, run, sample, tmp_path, after_reading):
    "model.json or model.safetensors cut short at any byte: one line naming the file."
    @settings(max_examples=12, **FEW)
    @given(st.sampled_from(['model.json', 'model.safetensors']), st.data())
    def case(name, data):
        whole = (run/name).read_bytes()
        folder = copy_of(run, tmp_path)
        (folder/name).write_bytes(whole[:data.draw(cut_anywhere(whole))])
        assert one_line(pets(*commands(run, sample, folder)['model.json'][cmd]), name) == 'refused'
    case()

@pytest.mark.parametrize('name,reader,size', [('model.json', 'read_model_meta', 500),
                                              ('config.json', 'read_config', 1000)])
def test_run_json_cut_at_every_byte(run, name, reader, size):
    "model.json (every command) and config.json (report, app, --resume, --config), cut at each byte: one clear error."
    from pets_classifier.core import PetsError
    from pets_classifier import run_folder
    whole = (run/name).read_bytes()
    folder = run.parent/f'every-byte-{name}'; folder.mkdir(exist_ok=True)
    for cut in range(len(whole)):
        (folder/name).write_bytes(whole[:cut])
        with pytest.raises(PetsError, match=name) as e: getattr(run_folder, reader)(folder)
        assert '\n' not in str(e.value)
    assert len(whole) > size

@pytest.mark.parametrize('cmd', CONFIG_CMDS)
def test_damaged_config_json(cmd, run, sample, tmp_path, after_reading):
    "config.json with a field deleted or replaced, anywhere in it: accepted, or one line naming the file and field."
    config, seen = json.loads((run/'config.json').read_text()), []
    @settings(max_examples=25, **FEW)
    @given(damage(config))
    def case(damaged):
        folder = copy_of(run, tmp_path)
        (folder/'config.json').write_text(json.dumps(damaged[0]))
        seen.append(one_line(pets(*commands(run, sample, folder)['config.json'][cmd]), 'config.json', damaged[1]))
    case()
    assert 'refused' in seen, seen

@pytest.mark.parametrize('cmd', CONFIG_CMDS)
def test_config_json_cut_short(cmd, run, sample, tmp_path, after_reading):
    @settings(max_examples=10, **FEW)
    @given(st.data())
    def case(data):
        whole = (run/'config.json').read_bytes()
        folder = copy_of(run, tmp_path)
        (folder/'config.json').write_bytes(whole[:data.draw(cut_anywhere(whole))])
        assert one_line(pets(*commands(run, sample, folder)['config.json'][cmd]), 'config.json') == 'refused'
    case()

def test_app_goes_on_without_a_damaged_config_json(run, tmp_path, after_reading, capsys):
    "The page needs the model; config.json only gives its accuracy line: damaged, it is said in one line, and skipped."
    pytest.importorskip('gradio')
    from pets_classifier.app import pets_app
    folder = copy_of(run, tmp_path)
    (folder/'config.json').write_text('{"results": {"accuracy": 7}}')
    pets_app(folder, n_examples=0)
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and "config.json (results) is damaged: its 'accuracy' is 7" in err, err

def test_damaged_checkpoint(run, sample, tmp_path, after_reading):
    "train --resume reads the checkpoint's header first: cut short anywhere, or its position damaged, one line."
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file
    whole = (run/'checkpoint.safetensors').read_bytes()
    with safe_open(str(run/'checkpoint.safetensors'), 'pt') as f: meta = json.loads(f.metadata()['pets_checkpoint'])
    tensors = load_file(str(run/'checkpoint.safetensors'))
    assert pets('train', '--resume', copy_of(run, tmp_path))[0] == 'reached'  # as written: accepted
    @settings(max_examples=20, **FEW)
    @given(st.one_of(cut_anywhere(whole).map(lambda n: ('cut', n)),
                     damage(dict(position=meta['position'])).map(lambda d: ('position', d[0].get('position')))))
    def case(how):
        folder = copy_of(run, tmp_path)
        if how[0] == 'cut': (folder/'checkpoint.safetensors').write_bytes(whole[:how[1]])
        else: save_file(tensors, str(folder/'checkpoint.safetensors'),
                        metadata={'pets_checkpoint': json.dumps({**meta, 'position': how[1]})})
        one_line(pets('train', '--resume', folder), 'checkpoint.safetensors', {'position'} if how[0] != 'cut' else ())
    case()

@pytest.mark.parametrize('cmd', ONNX_CMDS)
def test_damaged_onnx_metadata(cmd, run, sample, tmp_path, after_reading):
    "The metadata of model.onnx (model.json's fields) damaged anywhere: accepted, or one line naming file and field."
    pytest.importorskip('onnxruntime')
    if cmd == 'app': pytest.importorskip('gradio')
    meta, seen = json.loads((run/'model.json').read_text()) | dict(precision='fp32'), []
    @settings(max_examples=20, **FEW)
    @given(damage(meta))
    def case(damaged):
        folder = copy_of(run, tmp_path)
        onnx_model(folder/'model.onnx', damaged[0])
        seen.append(one_line(pets(*commands(run, sample, folder)['model.onnx'][cmd]), 'model.onnx', damaged[1]))
    case()
    assert 'refused' in seen, seen

@pytest.mark.parametrize('cmd', ONNX_CMDS)
def test_onnx_vocab_of_another_size(cmd, run, sample, tmp_path, after_reading):
    "Class names in the metadata one more or one fewer than the graph's scores: one line naming the file and 'vocab'."
    pytest.importorskip('onnxruntime')
    if cmd == 'app': pytest.importorskip('gradio')
    meta = json.loads((run/'model.json').read_text()) | dict(precision='fp32')
    for n in (len(meta['vocab']) - 1, len(meta['vocab']) + 1):
        folder = copy_of(run, tmp_path)
        onnx_model(folder/'model.onnx', meta, n=n)
        assert one_line(pets(*commands(run, sample, folder)['model.onnx'][cmd]), 'model.onnx', {'vocab'}) == 'refused'

def test_onnx_file_cut_short(run, sample, tmp_path):
    pytest.importorskip('onnxruntime')
    whole = (run/'model.onnx').read_bytes()
    @settings(max_examples=25, **FEW)
    @given(cut_anywhere(whole))
    def case(cut):
        folder = copy_of(run, tmp_path)
        (folder/'model.onnx').write_bytes(whole[:cut])
        assert one_line(pets('predict', folder/'model.onnx', sample), 'model.onnx') == 'refused'
    case()

# --- entries that are not files ---

@pytest.fixture
def odd_folder(sample, tmp_path):
    "The sample, plus a named pipe, a socket, a link to /dev/null, a broken link and a looping one, each named *.jpg."
    folder = tmp_path/'odd'; shutil.copytree(sample, folder)
    os.mkfifo(folder/'Bengal_90.jpg')
    (folder/'Bengal_91.jpg').symlink_to('/dev/null')
    (folder/'Bengal_92.jpg').symlink_to(folder/'gone.jpg')
    (folder/'Bengal_93.jpg').symlink_to(folder/'Bengal_93.jpg')
    (folder/'again').symlink_to(folder)  # a folder link back up
    sock = socket.socket(socket.AF_UNIX); sock.bind(str(folder/'Bengal_94.jpg'))
    yield folder
    sock.close()

ODD = {'Bengal_90.jpg': 'named pipe', 'Bengal_91.jpg': 'device', 'Bengal_92.jpg': 'broken link',
       'Bengal_93.jpg': 'looping link', 'Bengal_94.jpg': 'socket'}

def test_predict_passes_over_what_is_not_a_file(run, odd_folder):
    with within(60): status, out, err = pets('predict', run, odd_folder)
    assert status == 0 and len(out.splitlines()) == 32, out
    assert err.startswith('pets: passed over 6 entries that are not regular files: ') and err.count('\n') == 1, err
    assert not any(name in out for name in ODD)
    status, out, _ = pets('predict', run, odd_folder/'Bengal_90.jpg', odd_folder/'Bengal_92.jpg')  # named: said why
    assert status == 0 and [l.split('ERROR ')[1] for l in out.splitlines()] == [
        f"{odd_folder/'Bengal_90.jpg'}: not a regular file (named pipe), not opened",
        f"{odd_folder/'Bengal_92.jpg'}: not a regular file (broken link), not opened"], out

def test_predict_onnx_passes_over_a_named_pipe(run, odd_folder):
    pytest.importorskip('onnxruntime')
    with within(60): status, out, _ = pets('predict', run/'model.onnx', odd_folder/'Bengal_90.jpg', odd_folder)
    assert status == 0 and len(out.splitlines()) == 33 and 'named pipe' in out.splitlines()[0]

def test_check_reports_what_is_not_a_file(odd_folder, tmp_path):
    import csv
    with within(60): status, out, _ = pets('check', '--data', odd_folder, '--csv', tmp_path/'found.csv')
    assert status == 0, out
    found = {Path(r['file']).name: (r['problem'], r['action']) for r in csv.DictReader(open(tmp_path/'found.csv'))}
    assert found == {**{k: (v, 'skip') for k, v in ODD.items()}, 'again': ('looping link', 'skip')}
    assert out.startswith(f"Checked 38 files under {odd_folder}: 32 usable"), out

def test_train_checks_a_folder_with_a_named_pipe(odd_folder, tmp_path, monkeypatch):
    "pets train lists and checks the folder in seconds (training itself is the slow tests')."
    import pets_classifier.pipeline as pipeline
    def reached(*a, **k): raise Reached()
    monkeypatch.setattr(pipeline, 'pets_dataloaders', reached)  # after the listing, the check and the labels
    with within(120): status, out, err = pets('train', '--data', odd_folder, '--arch', 'test_efficientnet',
                                              '--no-pretrained', '--size', 32, '--bs', 8, '--out', tmp_path/'run')
    assert status == 'reached', err
    assert 'skip     named pipe' in out and 'skip     broken link' in out and 'skip     looping link' in out, out

def test_app_examples_are_regular_files(run, tmp_path):
    pytest.importorskip('gradio')
    from pets_classifier.app import example_photos
    folder = copy_of(run, tmp_path)
    (folder/'examples').mkdir()
    shutil.copy(sorted(Path(json.loads((run/'config.json').read_text())['settings']['data']).iterdir())[0],
                folder/'examples'/'cat_1.jpg')
    os.mkfifo(folder/'examples'/'cat_2.jpg'); (folder/'examples'/'cat_3.jpg').symlink_to(folder/'gone.jpg')
    with within(30): assert [p.name for p in example_photos(folder)] == ['cat_1.jpg']

def test_run_files_that_are_named_pipes(run, sample, tmp_path, after_reading):
    "A named pipe where a run's file should be: one line, or passed over as a file not there; never a wait."
    for name, argv, expected in (('model.json', ['predict', '{f}', sample], 2), ('config.json', ['report', '{f}'], 2),
                                 ('split.csv', ['export', '{f}'], 'reached'), ('metrics.csv', ['report', '{f}'], 0)):
        folder = copy_of(run, tmp_path)
        (folder/name).unlink(missing_ok=True); os.mkfifo(folder/name)
        with within(60): status, _, err = pets(*[folder if a == '{f}' else a for a in argv])
        assert status == expected, (name, status, err)
        if status == 2: assert name in err and err.count('\n') == 1 and 'named pipe' in err, (name, err)

# --- SIGTERM ---

def test_sigterm_exits_143_with_the_run_resumable(tmp_path, monkeypatch, capsys):
    "SIGTERM's `Terminated` reaches `main` as Ctrl-C's KeyboardInterrupt does: status 143, and how to go on."
    from pets_classifier.core import Terminated
    import pets_classifier.cli as cli, pets_classifier.pipeline as pipeline
    def stopped(settings): raise Terminated()
    monkeypatch.setattr(pipeline, 'train_run', stopped)
    assert cli.main(['train', '--out', str(tmp_path/'r')]) == 143
    assert capsys.readouterr().err == 'pets: stopped by SIGTERM\n'

def test_a_stop_is_never_swallowed(monkeypatch):
    """A signal that comes during a fit inside a bare `except:` (as in fastai's `Recorder`, reading each metric at the
    end of an epoch) or inside a finalizer (`__del__`: Python prints "Exception ignored" and goes on) still stops the
    fit, after that batch, and nothing is printed: during a fit the handler raises nothing, `_Stop` does (issue 27's
    Ctrl-C race: the run went on to the end and exited 0)."""
    import sys
    from fastai.test_utils import synth_learner
    from fastai.callback.core import Callback
    from pets_classifier.pipeline import _stopped_by_signals
    from pets_classifier.core import Terminated
    lost, before = [], signal.getsignal(signal.SIGINT)
    monkeypatch.setattr(sys, 'unraisablehook', lost.append)  # where an exception raised in `__del__` goes
    class Finalized:
        def __init__(self, signum): self.signum = signum
        def __del__(self): signal.raise_signal(self.signum)
    class SignalNow(Callback):  # at the end of the epoch's training, as the Recorder's `.item()` under `except:`
        def __init__(self, signum, where): self.signum, self.where, self.swallowed = signum, where, False
        def after_train(self):
            if self.where == 'del': Finalized(self.signum)  # made and dropped: `__del__` runs here
            else:
                try: signal.raise_signal(self.signum)
                except: self.swallowed = True  # noqa: E722
    learn = synth_learner(n_trn=4, n_val=2)
    for signum, exc in ((signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, Terminated)):
        for where in ('except', 'del'):
            with _stopped_by_signals() as stop, pytest.raises(exc):
                learn.fit(3, cbs=[stop, sig := SignalNow(signum, where)])
            assert (learn.epoch, sig.swallowed, lost) == (0, False, []), (signum, where, lost)
    with _stopped_by_signals() as stop:  # outside a fit it stops at once, as Python's own handler does
        with pytest.raises(KeyboardInterrupt): signal.raise_signal(signal.SIGINT)
    assert threading.current_thread() is threading.main_thread()
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # as it was
    assert signal.getsignal(signal.SIGINT) == before

# --- a full disk: a real one (a small tmpfs) where this machine lets a test mount one ---

SMALL_RUN = ['--arch', 'efficientnet_lite0', '--size', 64, '--bs', 8, '--views', 0, '--freeze-epochs', 1, '--epochs', 2,
             '--lr', 3e-3, '--lr-find-iters', 0]

def on_small_disk(env, sample, size:str, keep:Path) -> tuple|None:
    """`pets train` with --out on a tmpfs of `size` (in a mount namespace of its own: `unshare`); the run folder is
    copied to `keep` when it ends (the tmpfs goes with the namespace). (status, stdout, stderr), or None if no tmpfs."""
    import subprocess
    from conftest import PETS
    if not shutil.which('unshare'): return None
    mnt, log = keep.parent/'mnt', keep.parent/f'{keep.name}.log'
    mnt.mkdir(exist_ok=True)
    argv = ' '.join(f"'{a}'" for a in [PETS, 'train', '--data', sample, *SMALL_RUN, '--out', mnt/'run'])
    script = (f"mount -t tmpfs -o size={size} tmpfs '{mnt}' || exit 97\n"
              f"{argv} > '{log}.out' 2> '{log}.err'; echo $? > '{log}.rc'\n"
              f"if [ -d '{mnt}/run' ]; then cp -a '{mnt}/run' '{keep}'; fi\n")
    res = subprocess.run(['unshare', '--user', '--map-root-user', '--mount', 'sh', '-c', script], env=env,
                         capture_output=True, text=True, timeout=1500)
    if res.returncode == 97 or not Path(f'{log}.rc').exists(): return None  # mounting is not allowed here
    return int(Path(f'{log}.rc').read_text()), Path(f'{log}.out').read_text(), Path(f'{log}.err').read_text()

@pytest.mark.slow
def test_small_disk_refused_before_training(env, sample, tmp_path):
    """A disk with less room than the run's own estimate: refused before the first epoch, in one line, leaving no
    folder; on a disk of the size it said, the whole run finishes (the estimate is enough)."""
    import re
    res = on_small_disk(env, sample, '20000000', tmp_path/'kept')  # 20 MB: less than the model and two checkpoints
    if res is None: pytest.skip('no tmpfs can be mounted here (unshare --user --mount refused)')
    status, _, err = res
    assert status == 2 and err.count('\n') == 1 and 'Traceback' not in err, err
    said = re.match(r"pets: error: .*/run is on a disk with [\d.]+ MB free and this run needs about ([\d.]+) MB there "
                    r"\(.*\): nothing was trained\. Make room, or choose an --out on a disk with room\.\n$", err)
    assert said, err
    assert not (tmp_path/'kept').exists()  # no folder left behind
    need = float(said.group(1))
    status, out, err = on_small_disk(env, sample, str(int(need * 1e6)), tmp_path/'whole')  # bytes: 'm' is MiB
    assert status == 0 and 'model and run record in' in out, err

def test_small_disk_refused_where_no_tmpfs(sample, tmp_path, monkeypatch, env):
    "Everywhere, in the fast tier: the free space patched to 5 MB, `pets train` is one line, nothing fitted, no folder."
    from fastai.learner import Learner
    for k in ('PETS_CACHE', 'FASTAI_HOME', 'TORCH_HOME', 'HF_HUB_OFFLINE'): monkeypatch.setenv(k, env[k])
    monkeypatch.setattr(shutil, 'disk_usage', lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 5 * 10**6, 5 * 10**6))
    fits = []
    monkeypatch.setattr(Learner, 'fit', lambda self, *args, **kwargs: fits.append(args))  # lr_find, stage 1, stage 2
    status, _, err = pets('train', '--data', sample, *SMALL_RUN, '--quiet', '--out', tmp_path/'run')
    assert status == 2 and err.count('\n') == 1 and 'Traceback' not in err, err
    assert '5.0 MB free and this run needs about' in err and 'nothing was trained' in err, err
    assert not fits and not (tmp_path/'run').exists()

@pytest.mark.slow
def test_full_disk_mid_run_ends_in_one_line_and_resumes_elsewhere(sample, tmp_path, monkeypatch, env):
    """A disk that fills during the run (another program wrote to it): safetensors' own error at the second checkpoint,
    as a full disk raises it. One line (what, where, the room the run needs), the last checkpoint kept; the folder
    moved to a disk with room, --resume finishes it there, its metrics numbered on from the checkpoint."""
    import csv
    from safetensors import SafetensorError
    import pets_classifier.train as train
    for k in ('PETS_CACHE', 'FASTAI_HOME', 'TORCH_HOME', 'HF_HUB_OFFLINE'): monkeypatch.setenv(k, env[k])
    real, calls = train.save_file, []
    def fills_up(tensors, path, metadata=None):
        calls.append(path)
        if len(calls) == 3:
            raise SafetensorError('Error while serializing: I/O error: No space left on device (os error 28)')
        return real(tensors, path, metadata=metadata)
    monkeypatch.setattr(train, 'save_file', fills_up)  # checkpoint, stage-1's weights, checkpoint: the third fails
    out, moved = tmp_path/'run', tmp_path/'moved'
    status, _, err = pets('train', '--data', sample, *SMALL_RUN, '--quiet', '--out', out)
    assert status == 2 and err.count('\n') == 1, err
    assert "No space left on the disk for the checkpoint" in err and '(frozen stage, epoch 1 of 1) is kept' in err, err
    assert 'This run needs about' in err and not list(out.glob('*.tmp'))
    monkeypatch.setattr(train, 'save_file', real)
    shutil.move(out, moved)
    status, _, err = pets('train', '--resume', moved, '--quiet')
    assert status == 0 and (moved/'model.json').is_file() and not (moved/'checkpoint.safetensors').exists(), err
    rows = list(csv.DictReader(open(moved/'metrics.csv')))
    assert [(r['stage'], r['epoch']) for r in rows] == [('frozen', '0'), ('unfrozen', '1'), ('unfrozen', '2')], rows

# --- SIGTERM, from outside, as a scheduler sends it ---

@pytest.mark.slow
def test_sigterm_leaves_a_resumable_run(pets, env, sample, tmp_path):
    from conftest import signalled_after_checkpoint
    out = tmp_path/'run'
    res = signalled_after_checkpoint('SIGTERM', 'train', '--data', sample, *SMALL_RUN, '--out', out, env=env)
    err = res.stderr
    assert res.returncode == 143, err[-2000:]
    assert err.rstrip().endswith(f'continue with: pets train --resume {out}\npets: stopped by SIGTERM'), err[-2000:]
    assert 'Traceback' not in err and (out/'report.html').is_file()
    pets('train', '--resume', out, check=0)
    assert (out/'model.json').is_file() and not (out/'checkpoint.safetensors').exists()
