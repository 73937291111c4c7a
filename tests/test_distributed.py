"Two processes on the CPU (gloo), started by torchrun as a user would start them on two GPUs (issue 6)."
import csv, json, subprocess, sys
from pathlib import Path
import pytest

from conftest import PETS, TRAINED_ARGS

TORCHRUN = str(Path(sys.executable).parent/'torchrun')
ARGS = TRAINED_ARGS  # the `trained` fixture's run, to compare with (two processes skip lr_find)

@pytest.mark.slow
def test_two_processes_write_one_run_that_predicts_as_well(pets, trained, sample, env, tmp_path):
    pytest.importorskip('accelerate')
    out = tmp_path/'two'
    res = subprocess.run([TORCHRUN, '--nproc_per_node', '2', PETS, 'train', '--data', sample, *map(str, ARGS),
                          '--out', out],
                         env={**env, 'OMP_NUM_THREADS': '1'}, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.count('validation: accuracy') == 1 and res.stdout.count('Checked 32 files') == 1  # rank 0 speaks
    rows = list(csv.DictReader(open(out/'metrics.csv')))
    assert [r['epoch'] for r in rows] == ['0', '1', '2']  # each epoch written once, not once per process
    assert ({'model.safetensors', 'model.json', 'report.html', 'config.json', 'check.csv'}
            <= {p.name for p in out.iterdir()})
    assert not (out/'checkpoint.safetensors').exists()
    one = trained[0]
    acc = lambda run: json.loads(pets('evaluate', run, '--data', sample, '--json', check=0).stdout)['accuracy']
    # 32 images, 4 classes: chance 0.25
    assert acc(out) > 0.4 and abs(acc(out) - acc(one)) <= 0.25, (acc(out), acc(one))

def test_without_accelerate_the_message_says_what_to_install(monkeypatch):
    monkeypatch.setenv('WORLD_SIZE', '2')
    monkeypatch.setitem(sys.modules, 'accelerate', None)  # as if not installed
    from pets_classifier.core import PetsError
    from pets_classifier.train import distributed_state
    with pytest.raises(PetsError, match=r"pip install 'pets_classifier\[distributed\]'"): distributed_state()
