"""Accuracy and CPU time: `pets train`'s default recipe against the fastai lesson's recipe, same photos, same backbone.

    python bench/accuracy.py --data ../shared/data/pets-real-dev/images
    python bench/accuracy.py --arch efficientnet_lite0 efficientnet_lite1 efficientnet_lite2   # ours for each, side by side
    python bench/accuracy.py --precision auto fp32    # ours with the precision auto picks, and in fp32

Every fifth photo of each breed is held out (never seen by either run); both train on the rest with their own
seeded 80/20 train/validation split. Stock: the lesson's `DataBlock` (`Resize(460)`, `aug_transforms(size=224,
min_scale=0.75)`), `vision_learner`, `fit_one_cycle(3, 3e-3)`, `unfreeze()`, `fit_one_cycle(6, slice(1e-6, 1e-4))`,
timed from the first epoch to the last (fastai on a CPU: fp32, default memory format). Ours: the whole `pets train`
command with its defaults (checking the photos, lr_find, training, the interpretation figures and report.html),
timed end to end, with the seconds of each stage from its `config.json`. Held-out accuracy of ours is measured on
the saved model files, as `pets evaluate` would, in fp32 and in bf16, with the share of photos whose top class
is the same both ways.
"""
import argparse, json, os, tempfile, time, warnings
from collections import defaultdict
from pathlib import Path
warnings.filterwarnings('ignore')

def holdout_split(src:Path, dest:Path, every:int=5) -> tuple:
    "Symlink every `every`-th photo of each breed into dest/holdout, the rest into dest/train."
    from pets_classifier.data import name_regex
    by_breed = defaultdict(list)
    for f in sorted(src.iterdir()):
        m = name_regex().match(f.name)
        if m: by_breed[m.group(1)].append(f)
    for part in ('train', 'holdout'): (dest/part).mkdir(parents=True, exist_ok=True)
    for files in by_breed.values():
        for i, f in enumerate(files): (dest/('holdout' if i % every == 2 else 'train')/f.name).symlink_to(f.absolute())
    return dest/'train', dest/'holdout'

def stock_lesson(train:Path, holdout:Path, arch:str, seed:int=2) -> tuple:
    "The lesson's recipe with fastai alone: (seconds training, held-out accuracy); `seed`: the split's and training's."
    from fastai.vision.all import vision_learner, accuracy, get_image_files, set_seed
    from fastai.callback.progress import ProgressCallback
    from pets_classifier.data import pets_block, name_labeller
    from pets_classifier.models import resolve_arch
    set_seed(seed, reproducible=True)
    block = pets_block(name_labeller(), seed=seed, presize=460)  # with presize: exactly the lesson's fastai DataBlock
    dls = block.dataloaders(get_image_files(train), bs=32, num_workers=0)
    model_arch, kw = resolve_arch(arch)  # the same offline weights, handed to fastai as-is
    learn = vision_learner(dls, model_arch, metrics=accuracy, **kw)
    learn.remove_cb(ProgressCallback); learn.logger = lambda row: None
    t = time.perf_counter()
    learn.fit_one_cycle(3, 3e-3); frozen = time.perf_counter() - t
    learn.unfreeze(); learn.fit_one_cycle(6, slice(1e-6, 1e-4))
    secs = time.perf_counter() - t
    print(f"    stock stages: frozen {frozen:.0f} s, unfrozen {secs - frozen:.0f} s")
    preds, targs = learn.get_preds(dl=dls.test_dl(get_image_files(holdout), with_labels=True))
    return secs, (preds.argmax(1) == targs).float().mean().item()

def ours(train:Path, holdout:Path, arch:str, run:Path, precision:str='auto') -> tuple:
    "`pets train` with its defaults, end to end: (seconds, held-out accuracy of the saved model in fp32)."
    from pets_classifier.cli import main
    from pets_classifier.inference import load_model, evaluate
    from pets_classifier.predict import predict
    t = time.perf_counter()
    assert main(['train', '--data', str(train), '--arch', arch, '--out', str(run), '--precision', precision, '--quiet']) == 0
    secs = time.perf_counter() - t
    config = json.loads((run/'config.json').read_text())
    stages = ', '.join(f"{k} {v:.0f} s" for k, v in config['results']['seconds_by_stage'].items())
    print(f"    pets train --precision {precision}: trained in {config['settings']['precision']}; stages: {stages}")
    fp32, bf16 = load_model(run, precision='fp32'), load_model(run, precision='bf16')
    acc32, acc16 = evaluate(fp32, holdout)['accuracy'], evaluate(bf16, holdout)['accuracy']
    files = sorted(holdout.iterdir())
    top = lambda clf: [r['top'][0][0] for r in predict(clf, files, top_k=1)]
    same = sum(a == b for a, b in zip(top(fp32), top(bf16)))
    print(f"    its model on the held-out photos: accuracy {acc32:.3f} in fp32, {acc16:.3f} in bf16; top-1 the same on "
          f"{same}/{len(files)} = {same/len(files):.1%} (target >= 98%)")
    return secs, acc32

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--data', default='../shared/data/pets-real-dev/images')
    ap.add_argument('--arch', nargs='+', default=['efficientnet_lite0'], help="backbones `pets train` runs with, one after the other")
    ap.add_argument('--precision', nargs='+', default=['auto'], help="precisions `pets train` runs with, one after the other (auto, fp32, bf16)")
    ap.add_argument('--stock-arch', default='efficientnet_lite0', help="backbone of the stock fastai run ('' skips it)")
    a = ap.parse_args()
    os.environ.setdefault('PETS_CACHE', str(Path(tempfile.gettempdir())/'pets-bench-cache'))
    tmp = Path(tempfile.mkdtemp())
    train, holdout = holdout_split(Path(a.data), tmp)
    n_train, n_hold = len(list(train.iterdir())), len(list(holdout.iterdir()))
    print(f"{n_train} photos to train on (80/20 train/validation), {n_hold} held out")
    if a.stock_arch:
        s_secs, s_acc = stock_lesson(train, holdout, a.stock_arch)
        print(f"  stock fastai lesson recipe (3 frozen + 6 unfrozen), {a.stock_arch:19s} {s_secs:6.0f} s training        held-out accuracy {s_acc:.3f}")
    for arch in a.arch:
        for precision in a.precision:
            o_secs, o_acc = ours(train, holdout, arch, tmp/f'run-{arch}-{precision}', precision)
            print(f"  pets train, defaults, whole command, {arch:19s} {precision:4s}      {o_secs:6.0f} s               held-out accuracy {o_acc:.3f}")
            if a.stock_arch == arch and a.stock_arch:
                print(f"accuracy: ours ({precision}) {o_acc:.3f} vs stock {s_acc:.3f} (target 0.75) in {o_secs/s_secs:.2f}x stock's time (target <= 0.4)")

if __name__ == '__main__': main()
