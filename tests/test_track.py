"""Runs you can compare (issue 29): `pets train --track mlflow tensorboard`, read back with the libraries' own readers
(MLflow's `MlflowClient`, TensorBoard's `EventAccumulator`), the MLflow UI in a browser, and `pets runs`."""
import json, os, shutil, subprocess, sys
from pathlib import Path
import pytest
from conftest import PETS, served_url
from pets_classifier.core import TrainSettings
from pets_classifier.run_folder import CONFIG, write_config, write_model_meta

SMALL = ['--arch', 'efficientnet_lite0', '--size', 64, '--bs', 8, '--freeze-epochs', 2, '--epochs', 1,
         '--lr-find-iters', 12]  # the `trained` fixture's run, with another --lr

@pytest.fixture(scope='session')
def tracked(pets, sample, tmp_path_factory):
    "A run on the sample tracked by MLflow and TensorBoard: (run folder, config.json, pets train's result)."
    out = tmp_path_factory.mktemp('tracked')/'run'
    res = pets('train', '--data', sample, *SMALL, '--lr', 1e-2, '--out', out, '--track', 'mlflow', 'tensorboard',
               check=0)
    return out, json.loads((out/CONFIG).read_text()), res

def _mlflow(config):
    "MLflow's client on the run's store, and the run."
    from mlflow import MlflowClient
    where = config['tracking']['mlflow']
    client = MlflowClient(where['tracking_uri'])
    return client, client.get_run(where['run_id'])

@pytest.mark.slow
def test_mlflow_has_the_settings_epochs_results_and_files(tracked):
    out, config, res = tracked
    client, run = _mlflow(config)
    assert config['tracking']['mlflow']['tracking_uri'] == f"sqlite:///{out}/mlruns/mlflow.db"
    assert f"mlflow ui --backend-store-uri sqlite:///{out}/mlruns/mlflow.db" in res.stdout
    assert run.info.run_name == 'run' and run.info.status == 'FINISHED'
    params = run.data.params
    assert (params['arch'], params['lr'], params['epochs'], params['seed'], params['track']) == \
        ('efficientnet_lite0', '0.01', '1', '2', 'mlflow tensorboard')
    assert set(params) >= set(TrainSettings.kinds()) | {'n_train', 'n_valid', 'device'}
    history = lambda key: sorted(m.step for m in client.get_metric_history(run.info.run_id, key))
    for name in ('train_loss', 'valid_loss', 'error_rate', 'accuracy'):  # every epoch of each stage, by stage
        assert history(f'head/{name}') == [0, 1] and history(f'unfrozen/{name}') == [0], name
    epochs = (out/'metrics.csv').read_text().splitlines()[1:]  # the same epochs as the run folder's metrics.csv
    last = client.get_metric_history(run.info.run_id, 'unfrozen/valid_loss')[0].value
    assert last == pytest.approx(float(epochs[-1].split(',')[3]), rel=1e-5)
    results, cal = config['results'], config['results']['calibration']
    metrics = run.data.metrics
    assert metrics['accuracy'] == pytest.approx(results['accuracy']) and metrics['seconds'] == results['seconds']
    assert metrics['calibration/temperature'] == cal['temperature']
    assert metrics['calibration/ece_after'] == cal['ece_after']
    assert metrics['calibration/threshold_energy'] == pytest.approx(cal['thresholds']['energy'])
    assert run.data.tags['calibration.unknown'] == cal['unknown'] == 'energy'
    files = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {'report.html', 'model.safetensors', 'model.json', 'config.json', 'metrics.csv', 'losses.png',
            'confusion.png', 'reliability.png', 'per_class_metrics.csv'} <= files, files
    assert 'mlruns' not in files and 'tensorboard' not in files
    copy = Path(client.download_artifacts(run.info.run_id, 'model.json', str(out.parent)))
    assert copy.read_bytes() == (out/'model.json').read_bytes()

@pytest.mark.slow
def test_tensorboard_has_each_stage_and_the_results(tracked):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    out, config, res = tracked
    logdir = Path(config['tracking']['tensorboard']['logdir'])
    assert logdir.parent == out/'tensorboard' and f"tensorboard --logdir {out/'tensorboard'}" in res.stdout
    for stage, epochs in (('head', 2), ('unfrozen', 1)):
        acc = EventAccumulator(str(logdir/stage)).Reload()
        assert {'train_loss', 'valid_loss', 'error_rate', 'accuracy', 'lr_0'} <= set(acc.Tags()['scalars'])
        assert len(acc.Scalars('valid_loss')) == epochs
    summary = EventAccumulator(str(logdir)).Reload()
    assert summary.Scalars('results/accuracy')[0].value == pytest.approx(config['results']['accuracy'])
    assert summary.Scalars('results/calibration/ece_after')[0].value == pytest.approx(
        config['results']['calibration']['ece_after'], abs=1e-6)
    assert {'figures/losses', 'figures/confusion', 'figures/reliability'} <= set(summary.Tags()['images'])

@pytest.mark.slow
def test_mlflow_ui_shows_the_run_and_its_accuracy(tracked, tmp_path):
    "`mlflow ui` on the run's store, in headless Chromium: the run's page names it and shows its accuracy."
    from playwright.sync_api import sync_playwright
    out, config, _ = tracked
    where, log = config['tracking']['mlflow'], tmp_path/'mlflow.log'
    server = subprocess.Popen([str(Path(sys.executable).parent/'mlflow'), 'ui', '--backend-store-uri',
                               where['tracking_uri'], '--host', '127.0.0.1', '--port', '0', '--workers', '1'],
                              stdout=open(log, 'w'), stderr=subprocess.STDOUT, cwd=tmp_path,
                              env={**os.environ, 'MLFLOW_DISABLE_TELEMETRY': 'true'})  # as the README runs it
    try:
        base = served_url(server, log, r'Uvicorn running on (http://127\.0\.0\.1:\d+)')  # port 0: uvicorn's choice
        url = f"{base}/#/experiments/{where['experiment_id']}/runs/{where['run_id']}"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path='/usr/bin/chromium', args=['--no-sandbox'])
            page, outside = browser.new_page(), []
            page.on('request', lambda r: outside.append(r.url) if not r.url.startswith(base)
                    and not r.url.startswith('data:') else None)
            page.goto(url)
            page.get_by_text('top5_accuracy').first.wait_for(timeout=120_000)  # the metrics table has loaded
            lines = [l.strip() for l in page.inner_text('body').splitlines()]
            browser.close()
        assert 'run' in lines and where['run_id'] in lines  # the run's name and id
        shown = float(lines[lines.index('accuracy') + 1])
        assert shown == pytest.approx(config['results']['accuracy'], abs=1e-6)
        assert not outside, outside  # nothing fetched from the internet
    finally:
        server.terminate()
        try: server.wait(timeout=60)
        except subprocess.TimeoutExpired: server.kill()

@pytest.mark.slow
def test_track_dir_and_tracking_uri(pets, sample, env, tmp_path):
    "--track-dir: runs side by side in one store; MLFLOW_TRACKING_URI, when set, wins over both."
    from mlflow import MlflowClient
    for name in ('a', 'b'):
        pets('train', '--data', sample, *SMALL, '--lr', 3e-3, '--freeze-epochs', 1, '--epochs', 0,
             '--lr-find-iters', 0, '--out', tmp_path/'runs'/name, '--track', 'mlflow', '--track-dir', tmp_path/'runs',
             check=0)
    client = MlflowClient(f"sqlite:///{tmp_path/'runs'/'mlruns'/'mlflow.db'}")
    exp = client.get_experiment_by_name('pets')
    assert sorted(r.info.run_name for r in client.search_runs([exp.experiment_id])) == ['a', 'b']
    assert not (tmp_path/'runs'/'a'/'mlruns').exists()
    uri = f"sqlite:///{tmp_path/'elsewhere.db'}"
    res = subprocess.run([PETS, 'train', '--data', str(sample), *map(str, SMALL),
                          '--freeze-epochs', '1', '--epochs', '0', '--lr-find-iters', '0', '--out', str(tmp_path/'c'),
                          '--track', 'mlflow'], capture_output=True, text=True, cwd=tmp_path,
                         env={**env, 'MLFLOW_TRACKING_URI': uri, 'MLFLOW_EXPERIMENT_NAME': 'mine'})
    assert res.returncode == 0, res.stderr[-3000:]
    mine = MlflowClient(uri).get_experiment_by_name('mine')
    assert [r.info.run_name for r in MlflowClient(uri).search_runs([mine.experiment_id])] == ['c']
    assert not (tmp_path/'c'/'mlruns').exists()

# ---------------------------------------------------------------------------------------------------------------
# pets runs

@pytest.mark.slow
def test_pets_runs_on_three_runs(pets, sample, trained, tracked, tmp_path):
    "Three small runs (the `trained` one, the tracked one at another --lr, one more with other epochs) side by side."
    runs = tmp_path/'runs'
    shutil.copytree(trained[0], runs/'lr3e-3'); shutil.copytree(tracked[0], runs/'lr1e-2')
    pets('train', '--data', sample, *SMALL, '--lr', 3e-3, '--epochs', 2, '--out', runs/'lr3e-3-e2', check=0)
    (runs/'damaged').mkdir(); (runs/'damaged'/CONFIG).write_text('{"settings": {"bs": 0}}')
    (runs/'notes').mkdir(); (runs/'notes'/'ideas.txt').write_text('try lite2')
    res = pets('runs', runs, '--sort', 'accuracy', check=0)
    header, *rows = res.stdout.splitlines()
    assert header.split() == ['run', 'backbone', 'lr', 'epochs', 'accuracy', 'error', 'ece', 'seconds']
    assert sorted(r.split()[0] for r in rows) == [str(runs/n) for n in ('lr1e-2', 'lr3e-3', 'lr3e-3-e2')]
    assert all(r.split()[1] == 'efficientnet_lite0' for r in rows)
    table = {r.split()[0]: r.split()[2:] for r in rows}
    assert table[str(runs/'lr3e-3-e2')][:2] == ['0.003', '2'] and table[str(runs/'lr1e-2')][:2] == ['0.01', '1']
    accuracy = [float(r.split()[4]) for r in rows]
    assert accuracy == sorted(accuracy, reverse=True)
    assert res.stderr.splitlines() == [
        f"pets: {runs/'notes'} is not a run folder: it has no config.json or model.json.",
        f"pets: {runs/'damaged'/CONFIG} is damaged: its setting bs=0 is not a whole number from 2 to 8192 (batch norm "
        "needs 2 images or more in a training batch)."]
    as_json = json.loads(pets('runs', runs, '--json', check=0).stdout)
    recorded = json.loads((runs/'lr1e-2'/CONFIG).read_text())['results']
    assert [r for r in as_json if r['run'] == str(runs/'lr1e-2')][0]['accuracy'] == recorded['accuracy']
    csv_header = pets('runs', runs, '--csv', check=0).stdout.splitlines()[0]
    assert csv_header == 'run,backbone,lr,epochs,accuracy,error,ece,seconds'

def _fake_run(folder:Path, accuracy:float, **settings) -> Path:
    "A run folder with the config.json and model.json `pets train` writes, without training."
    s = TrainSettings(data='/photos', arch='efficientnet_lite0', size=64, freeze_epochs=15, workers=0, out=str(folder),
                      **settings)
    write_config(dict(settings=s, arch=s.arch, n_train=26, n_valid=6,
                      results=dict(accuracy=accuracy, error_rate=1 - accuracy, seconds=20.0,
                                   calibration=dict(temperature=1.2, ece_before=0.2, ece_after=0.1))), folder)
    write_model_meta(dict(arch=s.arch, vocab=['Bengal', 'pug'], size=64, mean=[0.5] * 3, std=[0.5] * 3), folder)
    return folder

def test_pets_runs_lists_the_others_when_some_are_damaged(pets_in_process, tmp_path):
    "Each damaged or foreign folder is one line on stderr; the runs are still listed; no run at all is an error."
    _fake_run(tmp_path/'a', 0.5, lr=3e-3); _fake_run(tmp_path/'b', 0.75, lr=1e-2, seed=3, track=('mlflow',))
    (tmp_path/'c').mkdir(); (tmp_path/'c'/CONFIG).write_text('not json')
    _fake_run(tmp_path/'d', 0.5); (tmp_path/'d'/'model.json').write_text('{"format_version": 99}')
    (tmp_path/'e').mkdir()  # an empty folder
    (tmp_path/'mlruns').mkdir(); (tmp_path/'tensorboard').mkdir()  # --track-dir's: passed over in silence
    res = pets_in_process('runs', tmp_path, check=0)
    assert [l.split()[0] for l in res.stdout.splitlines()] == ['run', str(tmp_path/'a'), str(tmp_path/'b')]
    assert res.stdout.splitlines()[0].split() == ['run', 'backbone', 'seed', 'lr', 'accuracy', 'error', 'ece',
                                                  'seconds']  # track: how it ran, not what it learned

    res = pets_in_process('runs', tmp_path/'e', tmp_path/'nowhere')
    assert res.returncode == 2 and res.stdout == ''
    assert res.stderr.splitlines() == [f"pets: {tmp_path/'e'} holds no run folder.",
                                       f"pets: {tmp_path/'nowhere'} does not exist.",
                                       f"pets: error: No run folder in {tmp_path/'e'}, {tmp_path/'nowhere'}."]

def test_track_without_the_library_says_what_to_install(pets_in_process, sample, tmp_path, monkeypatch):
    "--track with MLflow not installed: one line, before any photo is read or anything written."
    monkeypatch.setitem(sys.modules, 'mlflow', None)
    res = pets_in_process('train', '--data', sample, '--track', 'mlflow', '--out', tmp_path/'out')
    assert res.returncode == 2 and res.stdout == ''
    assert res.stderr == ('pets: error: --track mlflow needs MLflow, which is not installed: pip install -e ".[track]" '
                          '(or pip install "pets-classifier[track]")\n')
    assert not (tmp_path/'out').exists()
