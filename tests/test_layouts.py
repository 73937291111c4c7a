"Photos as people bring them (issue 32): class folders already split, a CSV file of labels, a stratified split."
import json, shutil
from pathlib import Path
import pandas as pd, pytest
from PIL import Image

QUICK = ('--arch', 'efficientnet_lite0', '--size', 64, '--bs', 8, '--freeze-epochs', 2, '--epochs', 1, '--lr', 3e-3,
         '--lr-find-iters', 12)

def _part(n:int) -> str: return 'train' if n <= 5 else 'valid' if n == 6 else 'test'  # of a sample's 8 a breed

def split_tree(sample:Path, dest:Path, valid:str='valid') -> Path:
    "The sample's photos as dest/train|VALID|test/BREED/NAME.jpg: 5, 1 and 2 of each breed."
    for f in sorted(sample.glob('*.jpg')):
        breed, n = f.stem.rsplit('_', 1)
        d = dest/_part(int(n)).replace('valid', valid)/breed; d.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, d/f.name)
    return dest

def labels_table(sample:Path) -> pd.DataFrame:
    "A CSV file's table of the sample: name, breed, and is_valid saying false, true or test."
    names = sorted(f.name for f in sample.glob('*.jpg'))
    parts = [_part(int(n.rsplit('_', 1)[1].split('.')[0])) for n in names]
    return pd.DataFrame(dict(name=names, breed=[n.rsplit('_', 1)[0] for n in names],
                             is_valid=[{'train': 'false', 'valid': 'true', 'test': 'test'}[p] for p in parts]))

def one_line(res) -> str:
    "The error of a refused run: exit 2, one line, no traceback."
    assert res.returncode == 2 and 'Traceback' not in res.stderr, res.stderr
    assert res.stderr.strip().count('\n') == 0, res.stderr
    return res.stderr

@pytest.fixture
def csv_sample(sample, tmp_path) -> Path:
    "A copy of the synthetic sample with labels.csv beside its photos."
    d = Path(shutil.copytree(sample, tmp_path/'photos'))
    labels_table(d).to_csv(d/'labels.csv', index=False)
    return d

def _with(table:pd.DataFrame, **cols) -> pd.DataFrame: return table.assign(**cols)

@pytest.mark.parametrize('case, expected', [
    ('missing file', '1 of the 32 files labels.csv names are not in'),
    ('unknown column', "labels.csv has no column 'kind' for the labels (its columns: name, breed, is_valid)"),
    ('stray whitespace', "The label 'Abyssinian ' in labels.csv has spaces at either end"),
    ('other case', "The labels 'Abyssinian' and 'abyssinian' in labels.csv differ only in case"),
    ('empty', 'labels.csv has no rows'),
    ('bad split value', "Column 'is_valid' says 'maybe' in row 2"),
    ('file twice', 'labels.csv names Abyssinian_1.jpg more than once'),
    ('columns without --csv', '--fn-col names a column of --csv: give --csv FILE.csv too.'),
])
def test_bad_csv_is_one_line(pets_in_process, csv_sample, tmp_path, case, expected):
    table, args = labels_table(csv_sample), ['--fn-col', 'name', '--label-col', 'breed', '--valid-col', 'is_valid']
    first = table.breed.tolist()
    bad = {'missing file': lambda t: _with(t, name=['cat.jpg'] + t.name.tolist()[1:]),
           'stray whitespace': lambda t: _with(t, breed=[first[0] + ' '] + first[1:]),
           'other case': lambda t: _with(t, breed=[first[0].lower()] + first[1:]),
           'empty': lambda t: t.iloc[:0],
           'bad split value': lambda t: _with(t, is_valid=['maybe'] * len(t)),
           'file twice': lambda t: pd.concat([t, t.iloc[:1]])}.get(case, lambda t: t)
    bad(table).to_csv(csv_sample/'labels.csv', index=False)
    if case == 'unknown column': args[3] = 'kind'
    csv = [] if case == 'columns without --csv' else ['--csv', 'labels.csv']
    res = pets_in_process('train', '--data', csv_sample, *csv, *args, *QUICK, '--out', tmp_path/'run')
    assert expected in one_line(res)
    assert not (tmp_path/'run').exists()

@pytest.mark.parametrize('case, expected', [
    ('class only in valid', "The valid images of the folders train/ valid/ test/ (fastai's GrandparentSplitter) hold 1 "
                            "classes the train images lack (Abyssinian)"),
    ('photo in two parts', "Abyssinian_6.jpg of 'Abyssinian' is in both train and valid"),
    ('valid and val', 'holds both valid/ and val/'),
])
def test_bad_given_split_is_one_line(pets_in_process, sample, tmp_path, case, expected):
    tree = split_tree(sample, tmp_path/'tree')
    if case == 'class only in valid':
        shutil.rmtree(tree/'train'/'Abyssinian')  # and its 2 test photos validate: 3, enough for the check
        for f in (tree/'test'/'Abyssinian').iterdir(): shutil.move(f, tree/'valid'/'Abyssinian')
    if case == 'photo in two parts':
        shutil.copy(tree/'valid'/'Abyssinian'/'Abyssinian_6.jpg', tree/'train'/'Abyssinian')
    if case == 'valid and val': (tree/'val').mkdir()
    res = pets_in_process('train', '--data', tree, *QUICK, '--out', tmp_path/'run')
    assert expected in one_line(res)

def test_stratified_split_keeps_every_shared_class():
    "The default split of the shared photos (389, 5 to 40 a breed) validates every breed; fastai's random one does not."
    from pets_classifier.data import label_images, stratified_split, pets_splitter
    photos = Path(__file__).resolve().parents[2]/'shared'/'data'/'pets-real-dev'/'images'
    if not photos.is_dir(): pytest.skip('the shared photos are not here')
    labels = label_images(photos).labels
    train, valid = stratified_split(labels, 0.2, 2)
    assert {labels[i] for i in valid} == set(labels) and len(valid) == round(0.2 * len(labels))
    _, random_valid = pets_splitter(0.2, 2)(labels)
    assert len({labels[i] for i in random_valid}) < len(set(labels))

def _split(run:Path) -> pd.DataFrame: return pd.read_csv(run/'split.csv')

@pytest.mark.slow
@pytest.mark.parametrize('layout', ['folders', 'csv'])
def test_given_split_honoured_and_test_evaluated(pets, sample, tmp_path, layout):
    """A train/val/test tree or a CSV with is_valid: exactly its validation photos validate, test photos never train,
    and `pets evaluate` on the test photos gives the accuracy the run reported."""
    if layout == 'folders': data, args = split_tree(sample, tmp_path/'tree', valid='val'), []
    else:
        data = Path(shutil.copytree(sample, tmp_path/'photos'))
        labels_table(data).to_csv(tmp_path/'labels.csv', index=False)
        args = ['--csv', tmp_path/'labels.csv', '--fn-col', 'name', '--label-col', 'breed', '--valid-col', 'is_valid']
    res = pets('train', '--data', data, *args, *QUICK, '--out', tmp_path/'run', check=0)
    assert 'split given by' in res.stdout and 'test: accuracy' in res.stdout
    split = _split(tmp_path/'run')
    names = lambda part: sorted(Path(f).name for f in split.file[split.split == part])
    expect = lambda part: sorted(f.name for f in sample.glob('*.jpg') if _part(int(f.stem.rsplit('_', 1)[1])) == part)
    assert (names('valid'), names('test'), names('train')) == (expect('valid'), expect('test'), expect('train'))
    assert split.why.str.startswith('given by').all()
    config = json.loads((tmp_path/'run'/'config.json').read_text())
    test = config['results']['test']
    assert test['n_images'] == config['n_test'] == 8 and config['n_valid'] == 4
    if layout == 'csv': assert config['settings']['csv'] == str((tmp_path/'labels.csv').absolute())
    assert 'test_accuracy' in (tmp_path/'run'/'report.html').read_text()
    tests = tmp_path/'test'
    for f in split.file[split.split == 'test']: tests.mkdir(exist_ok=True); shutil.copy(f, tests)
    ev = pets('evaluate', tmp_path/'run', '--data', tests, '--json', check=0)
    assert json.loads(ev.stdout)['accuracy'] == pytest.approx(test['accuracy'], abs=1 / 8 + 1e-9)

@pytest.mark.slow
def test_default_split_is_stratified(trained):
    "The `trained` run (4 breeds of 8, default split): every breed validates, and split.csv says why."
    split = _split(trained[0])
    assert split.label[split.split == 'valid'].nunique() == 4
    assert split.why.str.startswith('stratified').all()

def test_check_shows_photos_per_class(pets_in_process, sample, tmp_path):
    "`pets check`: the photos per class as bars, and one line on the balance; a class made large is called imbalanced."
    res = pets_in_process('check', '--data', sample, check=0)
    assert 'Photos per class: 8 to 8 (median 8) over 4 classes, balanced.' in res.stdout
    assert res.stdout.count(' 8 ' + '#' * 40) == 4
    d = Path(shutil.copytree(sample, tmp_path/'photos'))
    for f in list(d.glob('Abyssinian_*.jpg')):  # 2 mirror images of each (new bytes, not duplicates): 24 Abyssinian
        for k, way in enumerate((Image.FLIP_LEFT_RIGHT, Image.FLIP_TOP_BOTTOM)):
            Image.open(f).transpose(way).save(d/f.name.replace('_', f'_{k + 1}0'))
    res = pets_in_process('check', '--data', d, check=0)
    assert 'imbalanced: Abyssinian has 3.0x the photos of' in res.stdout
