"Stage 1's features on disk past --features-memory, the parallel check, and lines with the time left in a log."
import pytest

def test_check_lines_in_a_log_and_none_when_quiet(pets_in_process, sample, monkeypatch):
    "stdout is not a terminal here: `pets check` prints lines with the time left (one a file, EVERY 0); --quiet none."
    from pets_classifier import core
    monkeypatch.setattr(core, 'EVERY', 0)
    out = pets_in_process('check', '--data', sample, check=0).stdout
    lines = [line for line in out.splitlines() if line.startswith('check: ')]
    assert len(lines) == 31 and lines[0].startswith('check: 1/32 files, ') and lines[0].endswith(' left'), out
    quiet = pets_in_process('check', '--data', sample, '--quiet', check=0).stdout
    assert 'check: ' not in quiet and quiet.startswith('Checked 32 files'), quiet

def test_features_memory_is_checked(pets_in_process, sample, tmp_path):
    res = pets_in_process('train', '--data', sample, '--features-memory', '-1', '--out', tmp_path/'run')
    assert res.returncode == 2 and 'not a number from 0 to 100000' in res.stderr and 'Traceback' not in res.stderr

@pytest.mark.slow
def test_features_on_disk_train_and_are_deleted(sample, tmp_path, monkeypatch, capsys):
    "--features-memory 0: stage 1 trains on features.bin in --out, deleted after; the log has lines with the time left."
    import torch
    from pets_classifier import cli, core, features, pipeline
    monkeypatch.setattr(core, 'EVERY', 0)
    seen = []
    def drop(feats):
        seen.append((feats.file, feats.file.stat().st_size, feats.train_ds.xs.dtype)); real(feats)
    real = pipeline.drop_features  # what the pipeline calls
    monkeypatch.setattr(pipeline, 'drop_features', drop)
    out = tmp_path/'run'
    assert cli.main(['train', '--data', str(sample), '--arch', 'efficientnet_lite0', '--size', '64', '--bs', '8',
                     '--freeze-epochs', '2', '--epochs', '1', '--views', '2', '--lr-find-iters', '0',
                     '--features-memory', '0', '--out', str(out)]) == 0
    log = capsys.readouterr().out
    (file, size, dtype), = seen
    from pets_classifier.run_folder import read_split
    parts = [part for _, _, part in read_split(out)]
    n_train, n_valid, n_features = parts.count('train'), parts.count('valid'), 2 * 1280  # lite0's concat pooling
    assert (n_train, n_valid) == (25, 7)  # 32 images: 20% is 6.4, which scikit-learn's stratified split rounds up
    assert file == out/features.FEATURES_FILE and dtype == torch.bfloat16
    assert size == (2 * n_train + n_valid) * n_features * 2  # 2 bytes a number
    assert not file.exists() and (out/'model.safetensors').exists()
    for start in ('check: 1/32 files', 'features: 1/', 'head stage, epoch 1/2: 1/', 'unfrozen stage, epoch 1/1: 1/'):
        assert any(line.startswith(start) and line.endswith(' left') for line in log.splitlines()), (start, log)
