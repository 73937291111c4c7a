"""Label issues (issue 28): swap a share of the labels of real photos on purpose, find them, and train without them.

    python bench/labels.py --data ../shared/data/pets-real-dev/images --seeds 0 1 2 --threads 1

Every fifth photo of each breed is held out (bench/accuracy.py's `holdout_split`): nothing here trains on it. For
each seed, `--share` of the other photos get the name of another breed, drawn at random (symlinks renamed, in a
temporary folder). On that folder, as `pets train` would start: the DataLoaders, the backbone, stage 1's cached
features (`head_features`), then `out_of_fold` (k heads, each never seeing the photos it judges) and `find_issues`
with each rule on the same probabilities. Recall: swapped photos flagged / swapped; precision: flagged photos that
were swapped / flagged. The same on the photos with no swap says how many a clean folder gets flagged. Then the whole
`pets train` command (defaults, `--arch`) on the clean photos, on the swapped ones, and on the swapped ones after
`set_aside` moved the flagged photos out; held-out accuracy of each saved model in fp32, as `pets evaluate` gives it.
"""
import argparse, os, shutil, tempfile, time, warnings
import numpy as np
from pathlib import Path
warnings.filterwarnings('ignore')

from accuracy import holdout_split

RULES = ('posterior', 'prune_by_noise_rate', 'both')  # ours (the default), cleanlab's default, cleanlab's strictest
THRESHOLDS = (0.1, 0.2, 0.3, 0.5)  # of the posterior rule, shown side by side (0.2: the default)


def swap_labels(src:Path, dest:Path, share:float, seed:int) -> set:
    "Symlink every photo of `src` into `dest`, `share` of them named as another breed; the swapped paths in `dest`."
    from pets_classifier.data import name_regex
    rx, rng = name_regex(), np.random.default_rng(seed)
    files = sorted(f for f in src.iterdir() if rx.match(f.name))
    breeds = sorted({rx.match(f.name).group(1) for f in files})
    chosen = set(rng.choice(len(files), round(share * len(files)), replace=False).tolist())
    dest.mkdir(parents=True)
    swapped = set()
    for i, f in enumerate(files):
        if i in chosen:
            given = rx.match(f.name).group(1)
            name = f"{rng.choice([b for b in breeds if b != given])}_{90000 + i}{f.suffix}"  # a number no photo has
            swapped.add(dest/name)
        else: name = f.name
        (dest/name).symlink_to(f.resolve())
    return swapped


def find(folder:Path, arch:str, views:int, k:int, work:Path) -> tuple:
    "`out_of_fold` on the photos of `folder` as `pets train` would see them: (OutOfFold, seconds of the features)."
    from fastai.vision.all import set_seed
    from pets_classifier.data import pets_dataloaders
    from pets_classifier.learner import pets_learner
    from pets_classifier.features import head_features, out_of_fold
    set_seed(2, reproducible=True)
    dls = pets_dataloaders(folder, size=224, bs=64, seed=2, verbose=False)
    learn = pets_learner(dls, arch, path=work)
    t = time.perf_counter()
    features = head_features(learn, views)
    secs = time.perf_counter() - t
    return out_of_fold(learn, features, k), secs


def scores(table, swapped:set) -> tuple:
    "(flagged, recall, precision) of the table's files against the swapped ones."
    flagged = {Path(f) for f in table.file}
    hit = len(flagged & swapped)
    return len(flagged), hit / len(swapped) if swapped else float('nan'), hit / len(flagged) if flagged else float('nan')


def train_eval(data:Path, holdout:Path, arch:str, run:Path) -> tuple:
    "The whole `pets train` with its defaults on `data`: (seconds, held-out accuracy of the saved model in fp32)."
    from pets_classifier.cli import main
    from pets_classifier.inference import load_model, evaluate
    t = time.perf_counter()
    assert main(['train', '--data', str(data), '--arch', arch, '--out', str(run), '--quiet']) == 0
    return time.perf_counter() - t, evaluate(load_model(run, precision='fp32'), holdout)['accuracy']


def report_find(what:str, oof, feat_secs:float, swapped:set, out:Path, known:bool=True) -> object:
    "Print each rule's figures for one folder; write the default rule's table and figure to `out`; return that table."
    from pets_classifier.label_issues import find_issues, write_label_issues
    acc = (oof.probs.argmax(1) == oof.labels).mean()
    print(f"  {what}: {len(oof.files)} photos, features {feat_secs:.0f} s, out-of-fold heads {oof.seconds:.0f} s "
          f"(out-of-fold prediction = given label on {acc:.1%})")
    tables = {rule: find_issues(oof, rule) for rule in RULES}
    for rule, table in tables.items():
        n, r, p = scores(table, swapped)
        noise = f", noise share estimated {table.attrs['noise']:.3f}" if rule == 'posterior' else ''
        if noise and known: noise += f" (true {len(swapped) / len(oof.files):.3f})"
        found = f"  recall {r:.2f}  precision {p:.2f}" if swapped else ''
        print(f"    {rule:20s} flagged {n:3d}{found}{noise}")
    if swapped:
        curve = [scores(find_issues(oof, 'posterior', t), swapped) for t in THRESHOLDS]
        print('    posterior threshold  ' + '  '.join(f"{t}: {n} flagged R {r:.2f} P {p:.2f}"
                                                   for t, (n, r, p) in zip(THRESHOLDS, curve)))
    write_label_issues(tables['posterior'], out)
    np.savez(out/'out_of_fold.npz', probs=oof.probs, labels=oof.labels, files=[str(f) for f in oof.files],
             swapped=[str(f) for f in swapped])  # to look again without the features
    return tables['posterior']


def as_is(data:Path, a, out:Path, tmp:Path):
    "Find the label issues of every photo of `data`, untouched: the time of each step and the photos flagged."
    import torch
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, {torch.get_num_threads()} torch thread(s), {a.arch}, views {a.views}, "
          f"k {a.k}: every photo of {data}, as it is")
    oof, feat_secs = find(data, a.arch, a.views, a.k, tmp/'find')
    table = report_find('as is', oof, feat_secs, set(), out, known=False)
    print('    flagged (worst first):', ', '.join(f"{Path(r.file).name} -> {r.suggested} ({r.p_wrong:.2f})"
                                               for r in table.itertuples()) or 'none')
    print(f"issues table and figure in {out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--data', default='../shared/data/pets-real-dev/images')
    ap.add_argument('--arch', default='efficientnet_lite0')
    ap.add_argument('--share', type=float, default=0.05, help="share of the training photos given another breed's name")
    ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    ap.add_argument('--views', type=int, default=8, help="head_features views (pets train's default)")
    ap.add_argument('-k', type=int, default=5, help="folds of out_of_fold")
    ap.add_argument('--no-train', action='store_true', help="find the swapped photos only; no pets train")
    ap.add_argument('--threads', type=int, help="torch threads (1 when other work shares the cores)")
    ap.add_argument('--out', help="folder for each seed's label_issues.csv and .png (default: a temporary folder)")
    ap.add_argument('--as-is', action='store_true', help="only find the issues of --data as it is: every photo, "
                    "nothing held out or swapped, nothing trained")
    a = ap.parse_args()
    if a.threads: os.environ['OMP_NUM_THREADS'] = str(a.threads)
    import torch
    if a.threads: torch.set_num_threads(a.threads)
    os.environ.setdefault('PETS_CACHE', str(Path(tempfile.gettempdir())/'pets-bench-cache'))
    tmp = Path(tempfile.mkdtemp())
    out = Path(a.out) if a.out else tmp/'issues'
    if a.as_is: return as_is(Path(a.data), a, out, tmp)
    train, holdout = holdout_split(Path(a.data), tmp/'split')
    n_train = len(list(train.iterdir()))
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, {torch.get_num_threads()} torch thread(s), {a.arch}, views {a.views}, "
          f"k {a.k}: {n_train} photos to find issues in and train on, {len(list(holdout.iterdir()))} held out")
    results = []
    for seed in a.seeds:
        noisy = tmp/f'noisy-{seed}'
        swapped = swap_labels(train, noisy, a.share, seed)
        print(f"seed {seed}: {len(swapped)} of {n_train} labels swapped")
        oof, feat_secs = find(noisy, a.arch, a.views, a.k, tmp/f'find-{seed}')
        table = report_find('swapped', oof, feat_secs, swapped, out/f'seed-{seed}')
        results.append(dict(seed=seed, table=table, noisy=noisy, swapped=swapped))
    oof, feat_secs = find(train, a.arch, a.views, a.k, tmp/'find-clean')
    clean_table = report_find('no swap', oof, feat_secs, set(), out/'no-swap')
    print('    flagged with no swap (worst first):',
          ', '.join(f"{Path(r.file).name} -> {r.suggested} ({r.p_wrong:.2f})" for r in clean_table.itertuples()))
    rs = [scores(r['table'], r['swapped']) for r in results]
    print(f"posterior rule, mean over {len(rs)} seeds: recall {sum(r for _, r, _ in rs) / len(rs):.2f} (target 0.80), "
          f"precision {sum(p for *_, p in rs) / len(rs):.2f} (target 0.70)")
    if a.no_train: return
    secs, acc = train_eval(train, holdout, a.arch, tmp/'run-clean')
    print(f"pets train, clean photos: {secs:.0f} s, held-out accuracy {acc:.3f}")
    for r in results:
        from pets_classifier.label_issues import set_aside
        s, noisy = r['seed'], r['noisy']
        secs, acc_noisy = train_eval(noisy, holdout, a.arch, tmp/f'run-noisy-{s}')
        cleaned = tmp/f'cleaned-{s}'
        shutil.copytree(noisy, cleaned, symlinks=True)
        moved = set_aside(r['table'].assign(file=[str(cleaned/Path(f).name) for f in r['table'].file]),
                          tmp/f'aside-{s}', cleaned)
        secs2, acc_cleaned = train_eval(cleaned, holdout, a.arch, tmp/f'run-cleaned-{s}')
        print(f"seed {s}: held-out accuracy clean {acc:.3f}, swapped {acc_noisy:.3f} ({secs:.0f} s), "
              f"flagged set aside ({len(moved)} photos) {acc_cleaned:.3f} ({secs2:.0f} s)")
    print(f"issues tables and figures in {out}")


if __name__ == '__main__': main()
