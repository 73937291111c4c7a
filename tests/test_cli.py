"The `pets` command end to end, on the synthetic sample, offline."
import csv, json
from pathlib import Path
from PIL import Image
import pytest

@pytest.mark.slow
def test_train_writes_model_and_metrics(trained):
    out, res = trained
    assert {p.name for p in out.iterdir()} >= {'model.safetensors', 'model.json', 'metrics.csv'}
    rows = list(csv.DictReader(open(out/'metrics.csv')))
    assert [r['stage'] for r in rows] == ['head', 'head', 'unfrozen']  # stage 1 on cached features
    assert all(0 <= float(r['accuracy']) <= 1 for r in rows)
    assert 'error_rate' in res.stdout and 'model and run record in' in res.stdout
    meta = json.loads((out/'model.json').read_text())
    assert meta['arch'] == 'efficientnet_lite0' and meta['size'] == 64 and len(meta['vocab']) == 4
    assert (meta['resize'], meta['val_xtra']) == ('squish', 0.14)
    config = json.loads((out/'config.json').read_text())
    settings, seconds = config['settings'], config['results']['seconds_by_stage']
    from pets_classifier.models import cpu_bf16
    assert ((settings['views'], settings['precision'], settings['accumulate'])
            == (8, 'bf16' if cpu_bf16() else 'fp32', 1))
    assert config['resolved']['precision_why'].startswith('auto: this CPU has')
    assert config['resolved']['channels_last'] is True
    assert list(seconds) == ['check', 'model', 'features', 'lr_find', 'head', 'unfrozen', 'finish'], seconds
    assert all(v >= 0 for v in seconds.values())
    assert sum(seconds.values()) <= config['results']['seconds'] + 0.1 * len(seconds)  # each rounded to 0.1 s

@pytest.mark.slow
def test_train_frozen_epochs_and_accumulation(pets, sample, tmp_path):
    "--views 0: fastai's frozen epochs over the images; --accumulate 2: batches of 4 adding up to steps of 8."
    out = tmp_path/'frozen'
    res = pets('train', '--data', sample, '--arch', 'efficientnet_lite0', '--size', 64, '--bs', 8, '--views', 0,
               '--freeze-epochs', 1, '--epochs', 1, '--accumulate', 2, '--lr-find-iters', 0, '--quiet', '--out', out,
               check=0)
    assert [r['stage'] for r in csv.DictReader(open(out/'metrics.csv'))] == ['frozen', 'unfrozen']
    settings = json.loads((out/'config.json').read_text())['settings']
    assert (settings['views'], settings['accumulate'], settings['freeze_epochs']) == (0, 2, 1)
    res = pets('train', '--data', sample, '--arch', 'efficientnet_lite0', '--precision', 'fp16',
               '--out', tmp_path/'fp16')
    assert res.returncode == 2 and 'runs on a GPU' in res.stderr and 'Traceback' not in res.stderr
    assert not (tmp_path/'fp16').exists()  # nothing written

@pytest.mark.slow
def test_cpu_without_bfloat16_units_trains_in_fp32(sample, tmp_path, monkeypatch):
    "The capability check forced to 'no bfloat16 units': auto picks fp32, says why, and so does a model loaded there."
    from pets_classifier import cli, models
    from pets_classifier.inference import load_model
    monkeypatch.setattr(models, 'cpu_bf16', lambda: False)
    out = tmp_path/'no-bf16'
    assert cli.main(['train', '--data', str(sample), '--arch', 'efficientnet_lite0', '--size', '64', '--bs', '8',
                     '--device', 'cpu', '--freeze-epochs', '1', '--epochs', '1', '--lr-find-iters', '0', '--quiet',
                     '--out', str(out)]) == 0
    config = json.loads((out/'config.json').read_text())
    assert (config['settings']['precision'], config['resolved']['precision_why']) == (
        'fp32', 'auto: this CPU has no bfloat16 units, where bf16 would be slower than fp32')
    assert load_model(out).precision == 'fp32'
    monkeypatch.setattr(models, 'cpu_bf16', lambda: True)
    assert load_model(out).precision == 'bf16'

@pytest.mark.slow
def test_predict_precisions(pets, trained, sample):
    """fp32 and bf16 give the same top class on photos of the sample; fp16 on a CPU is one clear line. Eight photos, two
    of each breed: on a CPU without bfloat16 units (or torch held to AVX2) bf16 runs in slow reference kernels."""
    photos = sorted(sample.iterdir())[::4]
    top = lambda p: [json.loads(l)['top'][0][0] for l in
                     pets('predict', trained[0], *photos, '--json', '--precision', p, check=0).stdout.splitlines()]
    fp32, bf16 = top('fp32'), top('bf16')
    # a model trained for seconds: some photos sit between two classes
    assert len(fp32) == 8 and sum(a == b for a, b in zip(fp32, bf16)) >= 6
    res = pets('predict', trained[0], sample, '--precision', 'fp16')
    assert res.returncode == 2 and res.stderr.strip().count('\n') == 0 and 'runs on a GPU' in res.stderr

@pytest.mark.slow
def test_evaluate_json(pets, trained, sample):
    res = json.loads(pets('evaluate', trained[0], '--data', sample, '--json', check=0).stdout)
    assert res['n'] == 32 and res['unreadable'] == 0
    assert res['accuracy'] > 0.5, res  # 4 classes: chance is 0.25
    assert res['accuracy'] + res['error_rate'] == pytest.approx(1)

@pytest.mark.slow
def test_predict_table_and_json(pets, trained, sample):
    files = sorted(sample.iterdir())[:2]
    table = pets('predict', trained[0], *files, '--top-k', 2, check=0).stdout.strip().splitlines()
    assert len(table) == 2 and table[0].startswith(str(files[0]))
    lines = pets('predict', trained[0], sample, '--top-k', 3, '--json', check=0).stdout.strip().splitlines()
    assert len(lines) == 32
    for r in map(json.loads, lines):
        probs = [p for _, p in r['top']]
        assert len(probs) == 3 and probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-5

@pytest.mark.slow
def test_reloaded_model_predicts_identically(pets, trained, sample):
    "Two fresh processes load the safetensors model and give the same numbers."
    run = lambda: pets('predict', trained[0], sample, '--json', check=0).stdout
    assert run() == run()

@pytest.mark.slow
def test_predict_odd_files(pets, trained, sample, tmp_path):
    "A GIF or RGBA PNG under a .jpg name is predicted; a text file named .jpg gets an error line, not a crash."
    src = Image.open(sorted(sample.iterdir())[0])
    src.convert('P').save(tmp_path/'gif_in_disguise.jpg', format='GIF')
    src.convert('RGBA').save(tmp_path/'rgba_in_disguise.jpg', format='PNG')
    (tmp_path/'text.jpg').write_text('not an image')
    res = pets('predict', trained[0], tmp_path/'gif_in_disguise.jpg', tmp_path/'rgba_in_disguise.jpg',
               tmp_path/'text.jpg', '--json', check=0)
    out = [json.loads(l) for l in res.stdout.splitlines()]
    assert 'top' in out[0] and 'top' in out[1]
    assert 'not a readable image' in out[2]['error']

@pytest.mark.slow
def test_predict_cam(pets, trained, sample, tmp_path):
    "--cam DIR: a PNG per photo, the size of the photo, and the peak inside it; an unreadable file keeps its error."
    files = sorted(sample.iterdir())[:3]
    Image.open(files[0]).resize((150, 90)).save(tmp_path/'wide.jpg')  # not square: the peak in its own pixels
    (tmp_path/'text.jpg').write_text('not an image')
    res = pets('predict', trained[0], *files, tmp_path/'wide.jpg', tmp_path/'text.jpg', '--json', '--cam',
               tmp_path/'cams', check=0)
    out = [json.loads(l) for l in res.stdout.splitlines()]
    assert 'cam' not in out[-1] and 'not a readable image' in out[-1]['error']
    for r in out[:-1]:
        png, (w, h) = Image.open(r['cam']['file']), Image.open(r['file']).size
        assert png.size == (w, h) and 0 <= r['cam']['peak'][0] < w and 0 <= r['cam']['peak'][1] < h
    assert sorted(p.name for p in (tmp_path/'cams').iterdir()) == sorted(f"{Path(r['file']).stem}.cam.png"
                                                                         for r in out[:-1])
    (tmp_path/'afile').write_text('')
    res = pets('predict', trained[0], *files, '--cam', tmp_path/'afile'/'cams', check=2)
    assert res.stdout == '' and res.stderr.strip().splitlines() == [
        f"pets: error: --cam {tmp_path/'afile'/'cams'} cannot be created: {tmp_path/'afile'} is a file, not a folder."]

@pytest.mark.slow
def test_main_job_offline_trains_on_the_real_sample(pets_process, tmp_path):
    """`pets train` with no --data and no network, as the console script the README runs: it says the download failed
    and trains on the sample that ships."""
    res = pets_process('train', '--arch', 'efficientnet_lite0', '--size', 64, '--views', 1, '--freeze-epochs', 2,
                       '--epochs', 0, '--lr-find-iters', 0, '--out', tmp_path/'m', check=0)
    assert 'Could not get Oxford-IIIT Pet' in res.stdout and 'the real sample that ships' in res.stdout
    config = json.loads((tmp_path/'m'/'config.json').read_text())
    assert config['settings']['data'].endswith(str(Path('pets_classifier')/'sample'/'images'))
    assert len(config['vocab']) == 37 and config['n_valid'] >= 37  # every breed validates (stratified)
    assert (tmp_path/'m'/'report.html').is_file()

def _folder(tmp_path, names):
    d = tmp_path/'imgs'; d.mkdir()
    for n in names: Image.new('RGB', (32, 32), 'red').save(d/n)
    return d

@pytest.mark.parametrize('case, expected', [
    ('missing folder', 'Data folder not found'),
    ('empty folder', 'No image files'),
    ('pattern matches nothing', 'matches none'),
    ('one class', 'Only one class'),
    ('unknown arch', "Unknown architecture 'resnet_34'"),
    ('bad pattern', 'not a valid regular expression'),
])
def test_train_bad_input_is_a_clear_error(pets_in_process, tmp_path, case, expected):
    args = {'missing folder': lambda: ['--data', tmp_path/'nowhere'],
            'empty folder': lambda: ['--data', _folder(tmp_path, [])],
            'pattern matches nothing': lambda: ['--data', _folder(tmp_path, ['a_1.jpg', 'b_1.jpg']),
                                                '--pattern', r'^(dog)_\d+'],
            'one class': lambda: ['--data', _folder(tmp_path, ['a_1.jpg', 'a_2.jpg'])],
            'unknown arch': lambda: ['--data', _folder(tmp_path, ['a_1.jpg', 'b_1.jpg', 'a_2.jpg', 'b_2.jpg']),
                                     '--arch', 'resnet_34'],
            'bad pattern': lambda: ['--data', _folder(tmp_path, ['a_1.jpg']), '--pattern', '(']}[case]()
    res = pets_in_process('train', *args, '--out', tmp_path/'out')
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith('pets: error: ') and expected in res.stderr, res.stderr
    assert 'Traceback' not in res.stderr

@pytest.mark.slow
def test_bad_model_files_are_clear_errors(pets, trained, sample, tmp_path):
    res = pets('predict', tmp_path/'no-model', sorted(sample.iterdir())[0])
    assert res.returncode == 2 and 'No model at' in res.stderr
    bad = tmp_path/'bad'; bad.mkdir()
    (bad/'model.json').write_bytes((trained[0]/'model.json').read_bytes())
    (bad/'model.safetensors').write_bytes((trained[0]/'model.safetensors').read_bytes()[:1000])
    res = pets('evaluate', bad, '--data', sample)
    assert res.returncode == 2 and 'corrupt or truncated' in res.stderr and 'Traceback' not in res.stderr

@pytest.mark.slow
def test_refuses_to_overwrite_a_model(pets, trained, sample):
    res = pets('train', '--data', sample, '--out', trained[0])
    assert res.returncode == 2 and '--overwrite' in res.stderr

@pytest.mark.parametrize('cmd', ['train', 'evaluate', 'predict', 'interpret', 'report', 'check', 'app'])
def test_help_ends_with_an_example(pets_in_process, cmd):
    out = pets_in_process(cmd, '--help', check=0).stdout.strip().splitlines()
    assert 'example:' in out, out[-5:]
    examples = out[out.index('example:')+1:]
    assert examples and all(line.strip().startswith(f'pets {cmd}') for line in examples), examples
