"""Every option of every subcommand, given wrong values (issue 14).

The cases are generated from `pets_classifier.cli.parser()`, so an option added later is covered without anyone
listing it: each wrong value must end with exit status 2, one line `pets: error: argument --opt: ...` that names the
option, no traceback, nothing on stdout and nothing written. They run in process and fail while the arguments are
parsed, before any image is decoded or model built. Settings that are each in range but cannot work together are
refused too, on the synthetic sample, before anything is written (`test_combination_refused`)."""
import json, subprocess, sys
from pathlib import Path
import pytest
from pets_classifier import __version__, cli
from pets_classifier.core import Range, Text, Regex, TrainSettings
from pets_classifier.run_folder import CHECKPOINT

SUBS = cli.parser()._subparsers._group_actions[0].choices
OPTIONS = [(name, a) for name, sp in SUBS.items() for a in sp._actions if a.dest != 'help']

def _range(action) -> Range|None:
    "The `Range` an option's type checks (`--lr` keeps it as `.range`), or None."
    r = getattr(action.type, 'range', action.type)
    return r if isinstance(r, Range) else None

def _name(action) -> str: return '/'.join(action.option_strings) or action.metavar or action.dest  # as argparse does

def _outside(r:Range) -> list:
    "Text of numbers just outside each end of `r`."
    if r.kind is int: return [str(int(r.lo) - 1), str(int(r.hi) + 1)]
    step = lambda x: (abs(x) or 1) * 1e-3
    return [repr(r.lo if r.open in ('lo', 'both') else r.lo - step(r.lo)),
            repr(r.hi if r.open in ('hi', 'both') else r.hi + step(r.hi))]

def wrong_values(action) -> list:
    "Values an option must refuse: malformed ones; for numbers also zero, negative, NaN, inf, huge and out of range."
    if action.nargs == 0: return [None]  # a flag, given a value: --json=yes
    if action.choices: return ['', 'nonsense', str(action.choices[0]).upper()]
    r = _range(action)
    if r is None: return ['', '   '] + (['(', 'no-group'] if isinstance(action.type, Regex) else [])
    values = (['', 'abc', '-1', 'nan', 'inf', '-inf', '1e400', '9' * 30, *_outside(r)]
              + (['1.5', '2.0', '0x10'] if r.kind is int else ['1,5']))
    if not r.allows(0): values.append('0')
    return list(dict.fromkeys(values))

def argv_for(name:str, action, value) -> list:
    "A `pets NAME` command line that is right but for `value` given to `action`."
    sp = SUBS[name]
    positional = [value if a is action else 'x' for a in sp._actions if not a.option_strings]
    required = [v for a in sp._actions if a.option_strings and a.required and a is not action
                for v in (a.option_strings[-1], 'x')]
    if not action.option_strings: return [name, *positional, *required]
    given = [f'{action.option_strings[-1]}=yes'] if value is None else [action.option_strings[-1], value]
    return [name, *positional, *required, *given]

CASES = [(name, a, v) for name, a in OPTIONS for v in wrong_values(a)]
IDS = [f"{name} {_name(a)} {v!r}" for name, a, v in CASES]

def test_every_option_is_checked():
    "Each option has a checked type (`Range`, `Text`, `Regex`, `--lr`'s), choices, or is a flag: no plain int or str."
    unchecked = [f"pets {name} {_name(a)}" for name, a in OPTIONS
                 if not (a.nargs == 0 or a.choices or _range(a) or isinstance(a.type, Text))]
    assert not unchecked, unchecked
    n_numeric = sum(_range(a) is not None for _, a in OPTIONS)
    print(f"\n{len(SUBS)} subcommands, {len(OPTIONS)} options and arguments ({n_numeric} numeric), "
          f"{len(CASES)} wrong values")
    assert len(SUBS) == 9 and len(CASES) > 300

@pytest.mark.parametrize('name, action, value', CASES, ids=IDS)
def test_wrong_value_is_one_line(name, action, value, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where a default --out (pets-run) would be written
    argv = argv_for(name, action, value)
    if any(a.dest == 'out' for a in SUBS[name]._actions) and action.dest != 'out':
        argv += ['--out', str(tmp_path/'out')]
    status = cli.main(argv)
    out, err = capsys.readouterr()
    assert status == 2, (argv, err)
    assert len(err.splitlines()) == 1 and err.startswith('pets: error: '), err
    assert f'argument {_name(action)}:' in err, err
    assert 'Traceback' not in err and out == ''
    assert list(tmp_path.iterdir()) == []  # --out untouched, nothing written anywhere

@pytest.mark.parametrize('name, action', [(n, a) for n, a in OPTIONS if _range(a)],
                         ids=[f"{n} {_name(a)}" for n, a in OPTIONS if _range(a)])
def test_ends_of_each_range_are_taken(name, action):
    "The values at (or just inside) both ends of a numeric option's range parse: the range refuses only what it says."
    r = _range(action)
    ends = [r.lo if r.open not in ('lo', 'both') else r.lo + (r.hi - r.lo) / 1e3,
            r.hi if r.open not in ('hi', 'both') else r.hi - (r.hi - r.lo) / 1e3]
    for end in ends:
        args = cli.parser().parse_args(argv_for(name, action, str(int(end) if r.kind is int else end)))
        assert getattr(args, action.dest) == pytest.approx(end)

@pytest.mark.slow
def test_the_command_says_it_in_one_line(pets_process, tmp_path):
    "The installed command: one line, exit status 2, nothing written (its parser loads no torch: it takes a moment)."
    res = pets_process('train', '--bs', '0', '--out', tmp_path/'out')
    assert res.returncode == 2 and res.stdout == '' and not (tmp_path/'out').exists()
    assert res.stderr == ("pets: error: argument --bs: '0' is not a whole number from 2 to 8192 (batch norm needs 2 "
                          "images or more in a training batch); see pets train --help\n")
    code = ("import sys, pets_classifier.cli as c; c.parser(); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'fastai', 'timm'}))")
    assert subprocess.run([sys.executable, '-c', code], capture_output=True, text=True).stdout.strip() == '[]'

# ---------------------------------------------------------------------------------------------------------------
# Settings in range that cannot work together: refused on the sample, with advice, before anything is written

def _run_folder(tmp_path, sample, version=__version__, **settings) -> Path:
    "A run folder to resume: config.json with the settings `pets train` records, and a checkpoint's header."
    run = tmp_path/'run'; run.mkdir()
    recorded = vars(TrainSettings(data=str(sample), out=str(run), freeze_epochs=4))
    (run/'config.json').write_text(json.dumps(dict(settings={**recorded, **settings},
                                                   versions=dict(pets_classifier=version))))
    from safetensors.torch import save_file
    import torch
    save_file({'rng.torch': torch.zeros(1)}, str(run/CHECKPOINT),  # a checkpoint's header, read before the refusal
              metadata={'pets_checkpoint': json.dumps(dict(position=dict(stage='frozen', epoch=1, n_epoch=4), rng={},
                                                           hypers=[], opt_scalars=[]))})
    return run

COMBINATIONS = {
    'batch larger than the training images':
        (['--bs', '64'], '--bs 64 is more than the 25 training images (32 images, 7 held out by --valid-pct 0.2): '
                         'use --bs 25 or less.'),  # the stratified split (scikit-learn's) rounds the share held out up
    'accumulate larger than the batch': (['--bs', '8', '--accumulate', '16'], '--accumulate 16 is more than --bs 8'),
    'batches of one image':
        (['--bs', '4', '--accumulate', '4'], 'makes training batches of 1 image, and batch norm needs 2 or more: '
                                             'use --bs 8 or more'),
    'batch not split evenly': (['--bs', '8', '--accumulate', '3'], '--bs 8 does not split evenly with --accumulate 3'),
    'no validation image':
        (['--valid-pct', '0.01', '--no-stratify'], '--valid-pct 0.01 holds out no image of the 32 for validation: '
                                                   'use --valid-pct 0.04 or more.'),  # stratified: one of each class
    'a class without training images':
        (['--valid-pct', '0.95'], '--valid-pct 0.95 leaves 4 of the 4 classes without a training image'),
    'nothing to train': (['--freeze-epochs', '0', '--epochs', '0'], '--freeze-epochs 0 and --epochs 0 train nothing'),
    'lr_find suggestion without lr_find': (['--lr', 'valley', '--lr-find-iters', '0'], '--lr valley needs lr_find'),
    'out under a file': (['--out', '{tmp}/afile/run'], 'afile/run cannot be created:'),
    'out is a file': (['--out', '{tmp}/afile'], 'afile is a file, not a folder: choose another --out.'),
    'out inside the data': (['--out', '{sample}/run'], 'is inside --data'),
    'out holding files a run writes':
        (['--out', '{tmp}/mine'], 'already holds files a run writes (losses.png); pass --overwrite'),
    'resume a run of another version':
        (['--resume', '{run:0.0.1}'], 'the run was written by pets_classifier 0.0.1 and this is'),
    'resume with other settings':
        (['--resume', '{run}', '--epochs', '5'], "goes on with the run's own settings; leave out --epochs "
                                                 "(the run has --epochs 2)."),
    'resume a run whose settings are out of range':
        (['--resume', '{run:bs=0}'], "config.json is damaged: its setting bs=0 is not a whole number"),
    'resume a damaged run': (['--resume', '{run:damaged}'], 'config.json is damaged'),
}

@pytest.mark.parametrize('case', COMBINATIONS)
def test_combination_refused(case, sample, tmp_path, capsys, monkeypatch, env):
    monkeypatch.setenv('PETS_CACHE', env['PETS_CACHE']); monkeypatch.chdir(tmp_path)
    extra, expected = COMBINATIONS[case]
    (tmp_path/'afile').write_text('mine')
    (tmp_path/'mine').mkdir(); (tmp_path/'mine'/'losses.png').write_bytes(b'mine')
    def value(v):
        if v == '{run:0.0.1}': return str(_run_folder(tmp_path, sample, version='0.0.1'))
        if v == '{run:bs=0}': return str(_run_folder(tmp_path, sample, bs=0))
        if v == '{run:damaged}':
            run = _run_folder(tmp_path, sample); (run/'config.json').write_text('{"settings": '); return str(run)
        if v == '{run}': return str(_run_folder(tmp_path, sample))
        return v.format(tmp=tmp_path, sample=sample)
    args = [value(v) for v in extra]
    out = [] if '--out' in extra or '--resume' in extra else ['--out', str(tmp_path/'out')]
    before = {p: p.read_bytes() for p in tmp_path.rglob('*') if p.is_file()}
    if '--resume' in extra: argv = ['train', '--quiet', *args]  # a resumed run takes its own settings
    else: argv = ['train', '--data', str(sample), '--size', '64', *([] if '--bs' in extra else ['--bs', '8']),
                  '--quiet', *out, *args]
    status = cli.main(argv)
    err = capsys.readouterr().err
    assert status == 2 and len(err.splitlines()) == 1 and err.startswith('pets: error: ') and expected in err, err
    assert {p: p.read_bytes() for p in tmp_path.rglob('*') if p.is_file()} == before  # nothing written, nothing removed
    assert not (tmp_path/'out').exists() and not (tmp_path/'pets-run').exists() and not (sample/'run').exists()

@pytest.mark.parametrize('argv, expected', [
    (['check', '--data', '{sample}', '--csv', '{tmp}'], 'is a folder, not a file'),
    (['check', '--data', '{sample}', '--csv', '{tmp}/afile/found.csv'], 'cannot be created'),
    (['interpret', '{tmp}/model', '--data', '{sample}', '--out', '{tmp}/afile/x'],
     '--out {tmp}/afile/x cannot be created'),
    (['interpret', '{tmp}/model', '--data', '{sample}', '--out', '{sample}/x'], 'is inside --data'),
], ids=['check --csv a folder', 'check --csv under a file', 'interpret --out under a file',
        'interpret --out inside the data'])
def test_other_commands_refuse_what_they_cannot_write(argv, expected, sample, tmp_path, capsys):
    (tmp_path/'afile').write_text('mine')
    status = cli.main([a.format(tmp=tmp_path, sample=sample) for a in argv])
    err = capsys.readouterr().err
    assert status == 2 and len(err.splitlines()) == 1 and expected.format(tmp=tmp_path) in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ['afile'] and not (sample/'x').exists()
