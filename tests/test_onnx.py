"""`pets export` and the ONNX path end to end (issue 13): the file read back by onnx and onnxruntime alone, and
`pets predict model.onnx` where torch and fastai cannot be imported."""
import json, shutil, subprocess, sys
import numpy as np
import pytest
from pets_classifier.samples import assert_same_answers

BLOCKED = ('torch', 'torchvision', 'fastai', 'timm')
NO_TORCH = f"""
import sys
class Blocked:
    "Make torch, torchvision, fastai and timm unimportable, as on a machine with only onnxruntime, Pillow and NumPy."
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {BLOCKED!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked)", name=name)
sys.meta_path.insert(0, Blocked())
from pets_classifier.cli import main
status = main(sys.argv[1:])
assert not any(m.split('.')[0] in {BLOCKED!r} for m in sys.modules), sorted(sys.modules)
sys.exit(status)
"""

@pytest.fixture(scope='module')
def exported(pets, trained, tmp_path_factory):
    "A copy of the trained run with model.onnx and model.int8.onnx written by `pets export`, and the export's output."
    run = tmp_path_factory.mktemp('export')/'run'
    shutil.copytree(trained[0], run)
    res = pets('export', run, '--int8', 'static', '--check-photos', 8, check=0)
    return run, res

@pytest.mark.slow
def test_export_reads_back_with_onnx_and_onnxruntime(exported, sample):
    "The file as other tools see it: a valid graph, uint8 pixels in, probabilities out, any batch, model.json's fields."
    import onnx, onnxruntime as ort
    from PIL import Image
    run, res = exported
    assert 'the same top class on every one' in res.stdout and 'int8 static' in res.stdout, res.stdout
    model = onnx.load(run/'model.onnx')
    onnx.checker.check_model(model, full_check=True)
    meta = json.loads({p.key: p.value for p in model.metadata_props}['pets_classifier'])
    sidecar = json.loads((run/'model.json').read_text())
    fields = ('arch', 'vocab', 'size', 'resize')
    assert {k: meta[k] for k in fields} == {k: sidecar[k] for k in fields}
    assert model.opset_import[0].version == 18
    session = ort.InferenceSession(str(run/'model.onnx'), providers=['CPUExecutionProvider'])
    (inp,), outs = session.get_inputs(), session.get_outputs()
    assert (inp.name, inp.type, inp.shape[1:]) == ('images', 'tensor(uint8)', [64, 64, 3])
    assert isinstance(inp.shape[0], str)  # a named, dynamic batch axis
    pixels = np.stack([np.asarray(Image.open(f).convert('RGB').resize((64, 64))) for f in sorted(sample.iterdir())[:5]])
    probs, logits, cam = session.run(None, {'images': pixels})
    assert [o.name for o in outs] == ['probabilities', 'logits', 'cam'] and probs.shape == (5, len(sidecar['vocab']))
    assert cam.shape == (5, len(sidecar['vocab']), 2, 2) and 'cam' in meta  # each class at each place: 64 px, stride 32
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-5)  # softmax inside the graph
    t = sidecar['calibration']['temperature']  # pets train calibrated it; the graph divides by it
    np.testing.assert_allclose(probs, np.exp(logits / t) / np.exp(logits / t).sum(1, keepdims=True), atol=1e-5)
    assert meta['calibration'] == sidecar['calibration']
    assert (run/'model.int8.onnx').stat().st_size < (run/'model.onnx').stat().st_size / 3

@pytest.mark.slow
def test_predict_onnx_without_torch_or_fastai(exported, sample, env):
    "`pets predict model.onnx` with torch, torchvision, fastai and timm unimportable: the answers PyTorch gives."
    run, _ = exported
    files = [str(f) for f in sorted(sample.iterdir())[:6]]
    res = subprocess.run([sys.executable, '-c', NO_TORCH, 'predict', str(run/'model.onnx'), *files, '--json'],
                         env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    from pets_classifier.inference import load_model
    from pets_classifier.predict import predict
    by_torch = predict(load_model(run, precision='fp32'), files)
    by_onnx = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r['file'] for r in by_onnx] == files
    assert_same_answers(by_onnx, by_torch, eps=1e-4)  # ONNX Runtime's kernels, not torch's

@pytest.mark.slow
def test_predict_onnx_cam_without_torch(exported, sample, env, tmp_path):
    "`pets predict model.onnx --json --cam DIR` with torch unimportable: a PNG and a peak per photo, PyTorch's peaks."
    run, _ = exported
    files = [str(f) for f in sorted(sample.iterdir())[:8]]
    res = subprocess.run([sys.executable, '-c', NO_TORCH, 'predict', str(run/'model.onnx'), *files, '--json', '--cam',
                          str(tmp_path/'onnx')], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    by_onnx = [json.loads(line) for line in res.stdout.splitlines()]
    from PIL import Image
    for r in by_onnx:
        assert Image.open(r['cam']['file']).size == Image.open(r['file']).size
        assert r['cam']['file'] == str(tmp_path/'onnx'/f"{r['file'].rsplit('/', 1)[-1].rsplit('.', 1)[0]}.cam.png")
    from pets_classifier.cam import write_cams
    from pets_classifier.inference import load_model
    from pets_classifier.predict import predict
    clf = load_model(run, precision='fp32')
    by_torch = write_cams(clf, predict(clf, files), tmp_path/'torch')
    same = [a['cam']['peak'] == b['cam']['peak'] for a, b in zip(by_onnx, by_torch)]
    assert sum(same) >= 6, [(a['cam']['peak'], b['cam']['peak']) for a, b in zip(by_onnx, by_torch)]  # but near-ties
    int8 = subprocess.run([sys.executable, '-c', NO_TORCH, 'predict', str(run/'model.int8.onnx'), *files[:2], '--json',
                           '--cam', str(tmp_path/'int8')], env=env, capture_output=True, text=True, timeout=300)
    assert int8.returncode == 0 and all('peak' in json.loads(line)['cam'] for line in int8.stdout.splitlines()), int8

@pytest.mark.slow
def test_onnx_without_cam_refuses_it(exported, sample, pets, tmp_path):
    "An ONNX file exported before the class activation maps (no `cam` output): --cam refused in one line, no PNG."
    import onnx
    run, _ = exported
    old = onnx.load(run/'model.onnx')
    del old.graph.output[2]
    onnx.save(old, tmp_path/'old.onnx')
    res = pets('predict', tmp_path/'old.onnx', sorted(sample.iterdir())[0], '--cam', tmp_path/'cams', check=2)
    assert res.stderr.strip().splitlines() == [
        f"pets: error: --cam needs the class activation maps, and the ONNX file {tmp_path/'old.onnx'} was exported "
        "without them (by an older pets export): run pets export again, or give the model folder."]
    assert not any((tmp_path/'cams').glob('*.png'))

@pytest.mark.slow
def test_blocker_blocks(exported, env):
    "The blocker stops a PyTorch model folder, in one line: the test above would fail if the ONNX path imported torch."
    run, _ = exported
    res = subprocess.run([sys.executable, '-c', NO_TORCH, 'predict', str(run), str(run/'model.json')],
                         env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and 'torch is not installed' in res.stderr, res.stderr[-2000:]  # one line, no traceback
    assert len(res.stderr.strip().splitlines()) == 1

@pytest.mark.slow
def test_app_serves_onnx(exported, sample):
    "`pets app model.int8.onnx`'s page: built on onnxruntime, answering as `pets predict model.int8.onnx` does."
    from pets_classifier.app import pets_app
    from pets_classifier.predict import load_onnx, predict
    run, _ = exported
    demo = pets_app(run/'model.int8.onnx')
    predict_many = next(f.fn for f in demo.fns.values() if f.api_name == 'predict_many')
    photos = sorted(sample.iterdir())[:2]
    rows, _ = predict_many(photos)
    tops = [r['top'] for r in predict(load_onnx(run/'model.int8.onnx'), photos)]
    shown = [row[1].rsplit(' ', 1) for row in rows]  # 'class 0.123': rounded to 3 places, in another batch
    assert [c for c, _ in shown] == [t[0][0] for t in tops]
    assert [float(p) for _, p in shown] == pytest.approx([t[0][1] for t in tops], abs=5e-4 + 1e-5)
