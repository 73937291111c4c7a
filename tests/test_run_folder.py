"What a `pets train` run leaves behind, opened and checked: config, metrics, figures, tables, report.html."
import base64, csv, json, shutil
from html.parser import HTMLParser
from pathlib import Path
from PIL import Image
import pytest

pytestmark = pytest.mark.slow  # each test reads the trained run or runs the command

FIGURES = ['batch.png', 'classes.png', 'confusion.png', 'losses.png', 'lr_find.png', 'reliability.png',
           'top_losses.png', 'top_losses_cam.png']

class Page(HTMLParser):
    "The <img> sources, headings and table count of an HTML page."
    def __init__(self):
        super().__init__(); self.srcs, self.tables, self.tags = [], 0, []
    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == 'img': self.srcs.append(dict(attrs)['src'])
        if tag == 'table': self.tables += 1

def parse(html_file:Path) -> Page:
    page = Page(); page.feed(html_file.read_text(encoding='utf-8')); page.close()
    return page

def test_config_records_the_resolved_settings(trained, sample):
    cfg = json.loads((trained[0]/'config.json').read_text())
    s = cfg['settings']
    assert s['seed'] == 2 and s['lr'] == 3e-3 and s['lr_max'] == pytest.approx(1e-4)
    assert s['pattern'] == r'^(.+)_\d+\.\w+$' and s['workers'] == 0 and Path(s['data']) == sample
    assert set(cfg['resolved']['lr_find']) == {'valley', 'slide', 'minimum', 'steep'}
    assert cfg['device'] == 'cpu' and cfg['arch'] == 'efficientnet_lite0'
    assert {'torch', 'fastai', 'timm', 'python', 'pets_classifier'} <= set(cfg['versions'])
    assert cfg['n_train'] + cfg['n_valid'] == 32 and len(cfg['vocab']) == 4
    assert 0 <= cfg['results']['accuracy'] <= 1 and cfg['results']['seconds'] > 0

def test_calibration_in_model_json(trained):
    "pets train calibrated on the validation set: the temperature, both thresholds and the rule, with its metrics."
    cal = json.loads((trained[0]/'model.json').read_text())['calibration']
    assert 0.05 <= cal['temperature'] <= 20 and cal['unknown'] == 'energy'
    assert set(cal['thresholds']) == {'energy', 'max_prob'}
    results = json.loads((trained[0]/'config.json').read_text())['results']
    assert results['calibration'] == cal and results['accuracy'] <= results['top5_accuracy']
    assert 0 <= results['macro_f1'] <= 1
    rows = list(csv.DictReader(open(trained[0]/'per_class_metrics.csv')))
    assert [r['label'] for r in rows] == json.loads((trained[0]/'model.json').read_text())['vocab']
    assert sum(int(r['support']) for r in rows) == json.loads((trained[0]/'config.json').read_text())['n_valid']

def test_figures_are_real_images(trained):
    for name in FIGURES:
        with Image.open(trained[0]/name) as im:
            assert im.format == 'PNG' and min(im.size) >= 200, (name, im.size)
            lo, hi = im.convert('L').getextrema()
            assert hi - lo > 50, f"{name} is blank"

def test_tables(trained):
    out = trained[0]
    per_class = list(csv.DictReader(open(out/'per_class.csv')))
    assert len(per_class) == 4
    assert sum(int(r['n']) for r in per_class) == json.loads((out/'config.json').read_text())['n_valid']
    confused = list(csv.DictReader(open(out/'most_confused.csv')))
    cm = list(csv.reader(open(out/'confusion.csv')))[1:]
    mistakes = sum(int(v) for i, row in enumerate(cm) for j, v in enumerate(row[1:]) if i != j)
    assert sum(int(r['count']) for r in confused) == mistakes
    assert all(r['actual'] != r['predicted'] for r in confused)

def test_top_losses_show_the_calibrated_probabilities(pets, trained, sample, tmp_path):
    "`pets interpret`'s top_losses.csv gives each photo the probabilities `predict` gives (temperature applied)."
    from pets_classifier.inference import load_model
    from pets_classifier.run_folder import read_model_meta, write_model_meta
    from pets_classifier.predict import predict
    run = tmp_path/'run'; run.mkdir()
    for name in ('model.json', 'model.safetensors'): shutil.copy(trained[0]/name, run/name)
    meta = read_model_meta(run)
    meta['calibration']['temperature'] = 2.5  # far from 1, so raw and calibrated probabilities differ
    write_model_meta(meta, run)
    pets('interpret', run, '--data', sample, '--out', tmp_path/'interp', check=0)
    rows = list(csv.DictReader(open(tmp_path/'interp'/'top_losses.csv')))
    clf = load_model(run)
    answers = predict(clf, [Path(r['file']) for r in rows], top_k=len(clf.vocab), unknown='off')
    assert rows and len(answers) == len(rows)
    for row, answer in zip(rows, answers):
        probs = dict(answer['top'])
        assert abs(probs[row['predicted']] - float(row['p_predicted'])) < 0.02, (row, probs)
        assert abs(probs[row['actual']] - float(row['p_actual'])) < 0.02, (row, probs)

def test_report_embeds_every_figure(trained):
    out = trained[0]
    page = parse(out/'report.html')
    assert page.tags[:2] == ['html', 'head'] and page.tables >= 4
    pngs = {base64.b64decode(s.split(',', 1)[1]) for s in page.srcs}
    assert all(s.startswith('data:image/png;base64,') for s in page.srcs)  # nothing linked: opens with no server
    assert pngs == {(out/f).read_bytes() for f in FIGURES}

def test_report_rebuilds_from_the_folder(pets, trained, tmp_path):
    run = tmp_path/'copy'; shutil.copytree(trained[0], run)
    (run/'report.html').unlink(); (run/'losses.png').unlink()
    res = pets('report', run, check=0)
    assert res.stdout.strip() == str(run/'report.html')
    assert len(parse(run/'report.html').srcs) == len(FIGURES)
    res = pets('report', tmp_path/'nothing-here')
    assert res.returncode == 2 and 'No run folder' in res.stderr

def test_model_reloads_without_any_pickle(pets, trained, sample, tmp_path):
    "Only model.json and model.safetensors: no fastai checkpoint, no export.pkl, the same predictions."
    bare = tmp_path/'bare'; bare.mkdir()
    for f in ('model.json', 'model.safetensors'): shutil.copy(trained[0]/f, bare/f)
    assert not list(bare.glob('*.p*k*')) and not list(bare.rglob('*.pth'))
    predict = lambda model: [json.loads(l) for l in
                             pets('predict', model, sample, '--json', check=0).stdout.splitlines()]
    assert predict(bare) == predict(trained[0])

def test_interpret_writes_figures_and_prints_confusions(pets, trained, sample, tmp_path):
    res = pets('interpret', trained[0], '--data', sample, '--out', tmp_path/'interp', '--show', 2, check=0)
    acc = json.loads(pets('evaluate', trained[0], '--data', sample, '--json', check=0).stdout)['accuracy']
    assert res.stdout.startswith(f"accuracy {acc:.4f} on 32 images")
    lines = res.stdout.splitlines()
    assert 'most confused' in lines[1] or lines[1] == 'no mistakes'
    assert all(' -> ' in l for l in lines[2:]) and len(lines[2:]) <= 2
    written = {p.name for p in (tmp_path/'interp').iterdir()}
    assert {'confusion.png', 'top_losses.png', 'top_losses_cam.png', 'per_class.csv', 'most_confused.csv',
            'report.html'} <= written
    assert len(parse(tmp_path/'interp'/'report.html').srcs) == 3  # top losses, their CAMs, the confusion matrix

def test_no_progress_bars_in_logs(trained):
    "stdout is not a terminal here: an epoch table, but no carriage-return progress bars."
    out = trained[1].stdout
    assert '\r' not in out and '█' not in out
    assert 'train_loss' in out
    assert len([l for l in out.splitlines() if l.split()[:1] == ['0']]) == 2  # epoch 0 of each stage

def test_quiet_export_pkl_and_lr_suggestion(pets, sample, tmp_path):
    "--quiet prints only the results; --export-pkl writes a pickle fastai loads; --lr valley uses lr_find's suggestion."
    out = tmp_path/'q'
    res = pets('train', '--data', sample, '--arch', 'efficientnet_lite0', '--size', 64, '--bs', 8, '--freeze-epochs', 1,
               '--epochs', 0, '--lr', 'valley', '--lr-find-iters', 20, '--export-pkl', '--quiet', '--out', out, check=0)
    lines = res.stdout.splitlines()
    assert [l.split(':')[0] for l in lines[:2]] == ['calibration', 'validation'] and len(lines) == 3  # results only
    assert lines[2].startswith('model and run record in')
    cfg = json.loads((out/'config.json').read_text())
    assert cfg['settings']['lr'] == cfg['resolved']['lr_find']['valley'] and cfg['resolved']['lr'] == 'valley'
    from fastai.learner import load_learner
    from pets_classifier.inference import pickled_modules
    assert 'pets_classifier' not in pickled_modules(out/'export.pkl')  # fastai alone loads it
    learn = load_learner(out/'export.pkl')
    meta = json.loads((out/'model.json').read_text())
    assert list(learn.dls.vocab) == meta['vocab'] and learn.run_state.calibration == meta['calibration']

def test_overwrite_replaces_only_run_files(pets, sample, tmp_path):
    "--overwrite clears what the earlier run wrote (a stale lr_find.png would mislead) and keeps other files."
    out = tmp_path/'o'
    args = ['train', '--data', sample, '--arch', 'efficientnet_lite0', '--size', 64, '--bs', 8, '--freeze-epochs', 1,
            '--epochs', 0, '--quiet', '--out', out]
    pets(*args, '--lr-find-iters', 8, check=0)
    (out/'notes.png').write_bytes(b'mine')
    assert pets(*args).returncode == 2
    pets(*args, '--lr-find-iters', 0, '--overwrite', check=0)
    assert not (out/'lr_find.png').exists() and (out/'notes.png').read_bytes() == b'mine'

def test_bad_lr_is_a_clear_error(pets, sample, tmp_path):
    res = pets('train', '--data', sample, '--lr', 'fast', '--out', tmp_path/'x')
    assert res.returncode == 2 and "neither a number nor one of valley" in res.stderr
    res = pets('train', '--data', sample, '--arch', 'efficientnet_lite0', '--lr', 'valley', '--lr-find-iters', 0,
               '--out', tmp_path/'y')
    assert res.returncode == 2 and 'needs lr_find' in res.stderr and 'Traceback' not in res.stderr
