"Bad input, interruptions and untrusted files (issue 5): every bad file is made here, with PIL or by hand."
import csv, json, os, pickle, shutil
from pathlib import Path
from PIL import Image
import pytest

from conftest import signalled_after_checkpoint

def _bad_folder(sample:Path, dest:Path) -> dict:
    "A copy of `sample` plus one file of each bad kind; returns name -> (problem, action) expected."
    shutil.copytree(sample, dest)
    src = Image.open(sorted(sample.iterdir())[0])
    src.convert('P').save(dest/'Bengal_90.jpg', format='GIF')
    src.convert('RGBA').save(dest/'Bengal_91.jpg', format='PNG')
    src.convert('L').save(dest/'Bengal_92.jpg')
    src.convert('CMYK').save(dest/'Bengal_93.jpg')
    src.convert('P').save(dest/'Bengal_94.png')
    (dest/'Bengal_95.jpg').write_bytes(sorted(sample.iterdir())[1].read_bytes()[:500])
    (dest/'Bengal_96.jpg').write_bytes(b'')
    (dest/'Bengal_97.jpg').write_text('not an image')
    src.resize((8, 8)).save(dest/'Bengal_98.jpg')
    (dest/'Bengal_99.jpg').write_bytes(sorted(sample.iterdir())[2].read_bytes())
    Image.new('1', (14000, 14000)).save(dest/'Bengal_89.png')  # 196 M pixels: PIL's decompression-bomb limit
    src.save(dest/'holiday.jpg')
    src.save(dest/'Persian_1.jpg')
    os.mkfifo(dest/'Bengal_88.jpg')  # a named pipe: whoever opens it waits for a writer, for ever
    (dest/'Bengal_87.jpg').symlink_to(dest/'gone.jpg')  # a link to nothing
    return {'Bengal_90.jpg': ('disguised format', 'convert'), 'Bengal_91.jpg': ('disguised format', 'convert'),
            'Bengal_92.jpg': ('grayscale', 'convert'), 'Bengal_93.jpg': ('CMYK', 'convert'),
            'Bengal_94.png': ('palette', 'convert'), 'Bengal_95.jpg': ('unreadable or truncated', 'skip'),
            'Bengal_96.jpg': ('empty file', 'skip'), 'Bengal_97.jpg': ('not an image', 'skip'),
            'Bengal_98.jpg': ('tiny', 'skip'), 'Bengal_99.jpg': ('duplicate', 'skip'),
            'Bengal_89.png': ('decompression bomb', 'skip'), 'holiday.jpg': ('name does not match the pattern', 'skip'),
            'Persian_1.jpg': ('too few images in class', 'skip'), 'Bengal_88.jpg': ('named pipe', 'skip'),
            'Bengal_87.jpg': ('broken link', 'skip')}

@pytest.fixture(scope='module')
def bad(sample, tmp_path_factory):
    dest = tmp_path_factory.mktemp('bad')/'images'
    return dest, _bad_folder(sample, dest)

def test_check_names_every_bad_file_and_its_action(pets_in_process, bad, tmp_path):
    folder, expected = bad
    res = pets_in_process('check', '--data', folder, '--csv', tmp_path/'found.csv', check=0)
    found = {Path(r['file']).name: (r['problem'], r['action']) for r in csv.DictReader(open(tmp_path/'found.csv'))}
    assert found == expected
    skipped = sum(a == 'skip' for _, a in expected.values())
    assert res.stdout.startswith(f"Checked {32 + len(expected)} files under {folder}: "
                                 f"{32 + len(expected) - skipped} usable")
    for name in expected: assert name in res.stdout

def test_check_stops_when_nothing_can_be_trained(pets_in_process, tmp_path):
    "Like ../shared/data/bad-inputs: a GIF and an RGBA PNG named .jpg, one class. A summary, then why it stops."
    d = tmp_path/'bad-inputs'; d.mkdir()
    Image.new('RGB', (64, 64), 'red').convert('P').save(d/'Abyssinian_34.jpg', format='GIF')
    Image.new('RGBA', (64, 64), 'blue').save(d/'Abyssinian_5.jpg', format='PNG')
    res = pets_in_process('check', '--data', d)
    assert res.returncode == 2 and 'Traceback' not in res.stderr
    assert 'disguised format' in res.stderr and 'Abyssinian_34.jpg' in res.stderr
    assert "Only one class ('Abyssinian')" in res.stderr

@pytest.mark.slow
def test_train_on_a_messy_folder_skips_and_lists(pets, bad, tmp_path):
    folder, expected = bad
    out = tmp_path/'run'
    res = pets('train', '--data', folder, '--arch', 'efficientnet_lite0', '--size', 64, '--bs', 8, '--freeze-epochs', 1,
               '--epochs', 1, '--lr-find-iters', 0, '--out', out, check=0)
    assert 'Checked' in res.stdout and 'validation: accuracy' in res.stdout
    listed = {Path(r['file']).name: r['action'] for r in csv.DictReader(open(out/'check.csv'))}
    assert listed == {k: a for k, (_, a) in expected.items()}
    assert 'Files converted or skipped' in (out/'report.html').read_text()
    meta = json.loads((out/'model.json').read_text())
    assert 'Persian' not in meta['vocab'] and len(meta['vocab']) == 4

def test_gpu_asked_for_but_absent(pets_in_process, sample, tmp_path):
    import torch
    if torch.cuda.is_available(): pytest.skip('this machine has a GPU')
    res = pets_in_process('train', '--data', sample, '--device', 'cuda', '--out', tmp_path/'g')
    assert res.returncode == 2 and 'Traceback' not in res.stderr
    assert 'asks for a GPU, but torch finds none' in res.stderr
    assert not (tmp_path/'g').exists()  # nothing written

def test_out_of_gpu_memory_gives_advice(sample, tmp_path, monkeypatch, capsys, env):
    "Out of memory mid-training (simulated: no GPU here) ends with advice and exit 2, not a traceback."
    import torch, pets_classifier.pipeline as pipeline
    monkeypatch.setenv('PETS_CACHE', env['PETS_CACHE'])
    def oom(*a, **k): raise torch.cuda.OutOfMemoryError('CUDA out of memory. Tried to allocate 2.00 GiB')
    monkeypatch.setattr(pipeline, 'two_stage', oom)
    from pets_classifier.cli import main
    status = main(['train', '--data', str(sample), '--arch', 'efficientnet_lite0', '--size', '64', '--bs', '16',
                   '--lr-find-iters', '0', '--quiet', '--out', str(tmp_path/'oom')])
    err = capsys.readouterr().err
    assert status == 2 and 'Out of GPU memory with --bs 16 --accumulate 1' in err and 'Try --accumulate 2' in err

@pytest.mark.slow
def test_model_of_another_format_version(pets, trained, sample, tmp_path):
    other = tmp_path/'v9'; shutil.copytree(trained[0], other)
    meta = json.loads((other/'model.json').read_text()); meta['format_version'] = 9
    (other/'model.json').write_text(json.dumps(meta))
    res = pets('predict', other, sorted(sample.iterdir())[0])
    assert res.returncode == 2 and 'format version 9' in res.stderr and 'Traceback' not in res.stderr

@pytest.mark.slow
def test_default_split_validates_every_class(trained):
    "The default split is stratified: 8 photos of each of 4 breeds, and every breed in validation, so no warning."
    from pets_classifier.run_folder import read_split
    split = read_split(trained[0])
    assert {label for _, label, part in split if part == 'valid'} == {label for _, label, _ in split}
    assert 'Warning: the validation set has no images of' not in trained[1].stdout

def _train_args(sample, out):
    return ['train', '--data', sample, '--arch', 'efficientnet_lite0', '--size', 64, '--bs', 8, '--freeze-epochs', 1,
            '--epochs', 2, '--views', 1, '--lr', 3e-3, '--lr-find-iters', 0, '--out', out]

@pytest.mark.slow
def test_ctrl_c_then_resume_ends_like_an_uninterrupted_run(pets, sample, env, tmp_path):
    from pets_classifier.train import checkpoint_position
    out = tmp_path/'interrupted'
    # Ctrl-C as the first checkpoint is written: after stage 2's first epoch (stage 1's head writes none)
    res = signalled_after_checkpoint('SIGINT', *_train_args(sample, out), env=env)
    err = res.stderr
    assert res.returncode == 130, err[-2000:]
    assert f'pets train --resume {out}' in err and 'Traceback' not in err
    assert json.loads((out/'config.json').read_text())['settings']['epochs'] == 2  # a valid run folder
    assert (out/'report.html').exists()
    assert checkpoint_position(out/'checkpoint.safetensors') == dict(stage='unfrozen', epoch=1, n_epoch=2)
    assert len(list(csv.reader(open(out/'metrics.csv')))) - 1 == 1 + 1  # stage 1's epoch, and the one it stopped after
    assert pets('train', '--data', sample, '--out', out).returncode == 2  # refuses to start over it without --overwrite
    pets('train', '--resume', out, check=0)
    whole = tmp_path/'whole'
    pets(*_train_args(sample, whole), check=0)
    rows = lambda run: list(csv.DictReader(open(run/'metrics.csv')))
    assert [r['epoch'] for r in rows(out)] == [str(i) for i in range(3)]
    assert float(rows(out)[-1]['valid_loss']) == pytest.approx(float(rows(whole)[-1]['valid_loss']), abs=1e-3)
    assert not (out/'checkpoint.safetensors').exists()
    res = pets('train', '--resume', out)
    assert res.returncode == 2 and 'no checkpoint to resume from' in res.stderr

@pytest.mark.slow
def test_loaders_never_unpickle(trained, sample, tmp_path, monkeypatch, env):
    "load_model, predict, evaluate, interpretation and checkpoints work with pickle and torch.load forbidden."
    import torch
    def forbidden(*a, **k): raise AssertionError('unpickling attempted')
    for mod, name in [(torch, 'load'), (pickle, 'load'), (pickle, 'loads'), (pickle, 'Unpickler')]:
        monkeypatch.setattr(mod, name, forbidden)
    monkeypatch.setenv('PETS_CACHE', env['PETS_CACHE'])
    from pets_classifier.inference import load_model, evaluate
    from pets_classifier.predict import predict
    from pets_classifier.report import model_interpretation
    clf = load_model(trained[0])
    assert len(predict(clf, sorted(sample.iterdir())[:4])) == 4 and evaluate(clf, sample)['n'] == 32
    assert model_interpretation(clf, sample).confusion_matrix().sum() == 32
    assert not list(trained[0].rglob('*.pkl')) and not list(trained[0].rglob('*.pth'))  # stage-1 is safetensors too

@pytest.mark.slow
def test_export_pkl_needs_a_flag_and_warns(pets, pets_process, sample, tmp_path):
    out = tmp_path/'p'
    pets('train', '--data', sample, '--arch', 'efficientnet_lite0', '--size', 64, '--bs', 8, '--freeze-epochs', 1,
         '--epochs', 0, '--lr-find-iters', 0, '--export-pkl', '--quiet', '--out', out, check=0)
    img = sorted(sample.iterdir())[0]
    res = pets('predict', out/'export.pkl', img)
    assert res.returncode == 2 and 'loading it can run any code' in res.stderr and '--allow-pickle' in res.stderr
    # as the console script shows it to a user, in a process of its own
    res = pets_process('predict', out/'export.pkl', img, '--allow-pickle', '--json', check=0)
    assert 'Unpickling' in res.stderr and json.loads(res.stdout)['top']
    assert 'can run any code' in pets('predict', '--help', check=0).stdout

@pytest.mark.slow
def test_names_from_files_stay_inside_the_run_folder(pets, sample, tmp_path):
    "File-name labels (dots, percent-escapes, HTML) are data: nothing written outside --out; the report escapes them."
    d = tmp_path/'odd'; d.mkdir()
    files = sorted(sample.iterdir())
    for i, f in enumerate(files[:16]): shutil.copy(f, d/f'x..%2F..%2Fevil_{i}.jpg')
    for i, f in enumerate(files[16:]): shutil.copy(f, d/f'<img src=x onerror=alert(1)>_{i}.jpg')
    before = set(tmp_path.rglob('*'))
    out = tmp_path/'run'
    pets('train', '--data', d, '--arch', 'efficientnet_lite0', '--size', 64, '--bs', 8, '--freeze-epochs', 1,
         '--epochs', 0, '--lr-find-iters', 0, '--quiet', '--out', out, check=0)
    new = set(tmp_path.rglob('*')) - before
    assert all(p == out or out in p.parents for p in new), sorted(map(str, new - {out}))
    page = (out/'report.html').read_text()
    assert '<img src=x' not in page and '&lt;img src=x onerror=alert(1)&gt;' in page
