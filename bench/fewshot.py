"""Few-shot recipes (issue 26): held-out accuracy over seeds and training time, beside stock fastai's lesson recipe.

    python bench/fewshot.py --data ../shared/data/pets-real-dev/images     # the default recipes, seeds 1 2 3 (~45 min)
    python bench/fewshot.py --recipes all --seeds 2 --stock-seeds          # every recipe, one seed
    python bench/fewshot.py --recipes default l2 l2-all-tta --seeds 1 2 3 4 5 --stock-seeds 1 2
    python bench/fewshot.py --list                                                     # the recipes and what they do

Every fifth photo of each breed is held out (bench/accuracy.py's `holdout_split`) and never trained on; a seed moves
the 80/20 train/validation split of the rest and every random draw. `default` is `pets train`'s recipe today made of
the library's own calls (`pets_dataloaders`, `pets_learner`, `head_features`, `fit_head`, `fit_unfrozen`); it also
gives the line `default-stage1` (its model before stage 2). The other recipes train a head on cached features of the
frozen body, with the library's one extractor and one head (`pets_classifier.features`: `pooled_features`,
`fitted_head`, `head_logits`) at the precision `pets train` uses: the features of each backbone at its size are
computed once per seed, each augmented view timed apart, and every recipe is charged the measured seconds of the views it uses plus its own
training. Time is training time (stock: its 9 epochs; ours: features plus heads plus any stage 2), not start-up,
calibration or prediction; TTA costs prediction time only, stated beside it.

Then the "unknown" threshold: chosen on the validation set (5% of its correctly classified photos below it), against
one chosen the same way from out-of-fold logits of the training and validation photos (`pets_classifier.features.
out_of_fold`, with the folds and epochs `pets train` gives it), each for the same final head: the share of correctly classified held-out pets flagged and of photos of other things (`make_non_pets`)
caught, per seed. Run it with one torch thread (the default here) on a shared machine, and say so.
"""
import argparse, os, sys, tempfile, time, warnings
from functools import partial
from pathlib import Path
warnings.filterwarnings('ignore')
sys.path.insert(0, str(Path(__file__).parent))

BACKBONES = {'l0': ('efficientnet_lite0', 224), 'l1': ('efficientnet_lite1', 240), 'l2': ('efficientnet_lite2', 260),
             'l0@288': ('efficientnet_lite0', 288), 'l2@300': ('efficientnet_lite2', 300)}
HEAD = dict(keys=('l0',), views=8, epochs=15, lr=5e-3, ls=0., mixup=0., ema=0., all=False, tta=False, head='mlp',
            stage2=0, C=None)  # today's stage 1 on cached features; each recipe changes a few of these
RECIPES = {  # id: what it changes from HEAD ('default' is the library's own calls)
    'default': dict(lib=True), 'l0': {},
    'l0-4v': dict(views=4), 'l0-16v': dict(views=16), 'l0-30ep': dict(epochs=30), 'l0-lr1e-2': dict(lr=1e-2),
    'l0-lr2e-3': dict(lr=2e-3), 'l0-ls': dict(ls=0.1), 'l0-mixup': dict(mixup=0.4, epochs=30), 'l0-ema': dict(ema=0.99),
    'l0-tta': dict(tta=True), 'l0-all': dict(all=True), 'l0-logreg': dict(head='logreg', C=1.0),
    'l0-logreg-C10': dict(head='logreg', C=10.0), 'l0-ncm': dict(head='ncm'), 'l0@288': dict(keys=('l0@288',)),
    'l1': dict(keys=('l1',)), 'l2': dict(keys=('l2',)), 'l2@300': dict(keys=('l2@300',)),
    'l2-stage2': dict(keys=('l2',), stage2=2), 'l012': dict(keys=('l0', 'l1', 'l2')),
    'l012-4v': dict(keys=('l0', 'l1', 'l2'), views=4), 'l2-all': dict(keys=('l2',), all=True),
    'l2-all-tta': dict(keys=('l2',), all=True, tta=True), 'l2-all-ls': dict(keys=('l2',), all=True, ls=0.1),
    'l012-4v-all': dict(keys=('l0', 'l1', 'l2'), views=4, all=True),
    'l012-4v-all-tta': dict(keys=('l0', 'l1', 'l2'), views=4, all=True, tta=True),
    'l01': dict(keys=('l0', 'l1')), 'l0@288-4v': dict(keys=('l0@288',), views=4),
    'l0@288-all': dict(keys=('l0@288',), all=True), 'l0@288-all-tta': dict(keys=('l0@288',), all=True, tta=True),
    'l0@288-4v-all-tta': dict(keys=('l0@288',), views=4, all=True, tta=True),
    'l0@288-all-ema': dict(keys=('l0@288',), all=True, ema=0.99), 'l0@288+l1': dict(keys=('l0@288', 'l1')),
    'l2-4v-all': dict(keys=('l2',), views=4, all=True),
    'l0@288+l2-4v-all': dict(keys=('l0@288', 'l2'), views=4, all=True),
}

DEFAULT = ['default', 'l0', 'l0-4v', 'l0-30ep', 'l0-lr1e-2', 'l0-lr2e-3', 'l0-ls', 'l0-mixup', 'l0-ema', 'l0-tta',
           'l0-all', 'l0-logreg', 'l0-logreg-C10', 'l0-ncm', 'l0@288', 'l0@288-all', 'l0@288-all-tta', 'l2',
           'l2-4v-all', 'l2-all', 'l2-all-tta', 'l0@288+l2-4v-all']  # 44 minutes for 3 seeds on 2 shared cores (bf16)

def describe(spec:dict) -> str:
    "One line: what a recipe is."
    if spec.get('lib'): return "pets train today: lite0 224 px, 8 views, 15 head epochs at 5e-3, 2 unfrozen at 1e-4"
    r = {**HEAD, **spec}
    keys = '+'.join(f"{BACKBONES[k][0].replace('efficientnet_', '')} {BACKBONES[k][1]} px" for k in r['keys'])
    head = {'mlp': f"{r['epochs']} head epochs at {r['lr']:g}", 'logreg': f"logistic regression C={r['C']}",
            'ncm': "nearest class mean (centred, L2-normalised)"}[r['head']]
    extra = [f"label smoothing {r['ls']}" * bool(r['ls']), f"MixUp {r['mixup']}" * bool(r['mixup']),
             f"EMA {r['ema']}" * bool(r['ema']), 'train+valid photos' * r['all'], 'TTA 8 views' * r['tta'],
             f"then {r['stage2']} unfrozen at 1e-4" * bool(r['stage2'])]
    return ', '.join([keys, f"{r['views']} views", head, *filter(None, extra)])

class EMA:
    "fastai callback keeping timm's `ModelEmaV3` of the model, copied into it when the fit ends."
    def __new__(cls, decay:float):
        from fastai.vision.all import Callback
        from timm.utils import ModelEmaV3
        class _EMA(Callback):
            def before_fit(self): self.ema = ModelEmaV3(self.model, decay=decay)
            def after_step(self): self.ema.update(self.model)
            def after_fit(self): self.model.load_state_dict(self.ema.module.state_dict())
        return _EMA()

def photos_dl(dls, files:list, augment:bool=False, bs:int=16):
    "A loader over `files`, in order, labelled as `dls` labels, with its validation transforms or training augmentation."
    dl = dls.test_dl(list(files), with_labels=True, bs=bs)
    if not augment: return dl
    for tl in dl.dataset.tls: tl.tfms.split_idx = 0  # fastai's transforms read it: 0 is the training set's
    return dls.train.new(dl.dataset, shuffle=False, drop_last=False, bs=bs)

def view_rows(learn, dl, views:int) -> tuple:
    "`(features, targets, seconds)`: `views` passes over `dl` in one `pooled_features` (views x photos x width), timed."
    from pets_classifier.features import pooled_features
    marks, n = [], len(dl.dataset)
    def passes():  # one call, as `head_features` makes it: the body's engine is made once, in the first view's time
        for _ in range(views): marks.append(time.perf_counter()); yield from dl
        marks.append(time.perf_counter())
    rows, ys = pooled_features(learn, passes(), views * n, memory=64)
    secs = [b - a for a, b in zip(marks, marks[1:])]
    return rows.tensor().reshape(views, n, -1), None if ys is None else ys[:n], secs

def logits_of(head, xs):
    "The logits of `head` for features of any leading shape (views x photos x width, or photos x width)."
    from pets_classifier.features import head_logits
    return head_logits(head, xs.reshape(-1, xs.shape[-1])).reshape(*xs.shape[:-1], -1)

class Features:
    "One seed's cached features of one backbone at one size: each part computed on first use, each view's seconds kept."
    def __init__(self, seed:int, key:str, train:Path, holdout:list, others:list, views:dict):
        from fastai.vision.all import set_seed
        from pets_classifier.data import pets_dataloaders
        from pets_classifier.learner import pets_learner
        arch, size = BACKBONES[key]
        set_seed(seed, reproducible=True)
        self.dls = pets_dataloaders(train, seed=seed, size=size, bs=32, num_workers=0, verbose=False)
        self.learn = pets_learner(self.dls, arch)
        self.seed, self.key, self.views, self.holdout, self.others, self.parts = seed, key, views, holdout, others, {}

    def part(self, name:str) -> tuple:
        "`(features, targets, seconds per view)` of 'train', 'valid_aug', 'hold_aug' (views), '*_c' (one centre view)."
        if name not in self.parts:
            from fastai.vision.all import set_seed
            files = dict(train=self.dls.train_ds.items, valid=self.dls.valid_ds.items, hold=self.holdout)
            which, kind = name.split('_') if '_' in name else (name, 'aug')
            views = self.views.get(which, 8) if kind == 'aug' else 1  # the most any recipe takes
            set_seed(self.seed * 100 + len(self.parts), reproducible=True)  # each part its own draws
            if which == 'others': dl = self.dls.test_dl(self.others, bs=16)
            else: dl = photos_dl(self.dls, files[which], augment=kind == 'aug')
            self.parts[name] = view_rows(self.learn, dl, views)
        return self.parts[name]

def held_accuracy(probs, targets) -> float: return float((probs.argmax(1) == targets).float().mean())

def train_head(r:dict, learn, xs, ys, n_out:int, seed:int=0):
    "The head of recipe `r` trained on `xs` (views x photos x width): returns a function from features to logits."
    import numpy as np, torch
    from fastai.vision.all import MixUp, LabelSmoothingCrossEntropyFlat
    from pets_classifier.features import fitted_head, fresh_head
    flat, yr = xs.reshape(-1, xs.shape[-1]).float(), ys.repeat(len(xs))
    if r['head'] == 'ncm':  # SimpleShot (Wang et al. 2019): centre, L2-normalise, nearest class mean
        mean = flat.mean(0)
        norm = lambda x: torch.nn.functional.normalize(x.float() - mean, dim=-1)
        protos = torch.stack([norm(flat[yr == c]).mean(0) for c in range(n_out)])
        return lambda x: 20 * norm(x) @ torch.nn.functional.normalize(protos, dim=-1).T  # cosine, scaled
    if r['head'] == 'logreg':  # Tian et al. 2020: logistic regression on L2-normalised features
        from sklearn.linear_model import LogisticRegression
        norm = lambda x: torch.nn.functional.normalize(x.float(), dim=-1).numpy()
        clf = LogisticRegression(C=r['C'], max_iter=500).fit(norm(flat), yr.numpy())
        full = lambda x: np.full((len(x), n_out), -1e4, dtype=np.float32)
        def logits(x):
            out = full(x); out[:, clf.classes_] = clf.decision_function(norm(x.reshape(-1, x.shape[-1])))
            return torch.from_numpy(out).reshape(*x.shape[:-1], n_out)
        return logits
    cbs = [*([MixUp(r['mixup'])] if r['mixup'] else []), *([EMA(r['ema'])] if r['ema'] else [])]
    torch.manual_seed(seed)  # the head's first weights, as `fitted_head` draws its own
    one = flat.shape[-1] == learn.model[1][2].num_features  # one backbone: the learner's head; more: fastai's, wider
    head = fitted_head(learn, flat, yr, r['epochs'], r['lr'], seed=seed, cbs=cbs,
                       head=None if one else fresh_head(learn, flat.shape[-1]),
                       loss_func=LabelSmoothingCrossEntropyFlat(eps=r['ls']) if r['ls'] else None)
    out = partial(logits_of, head); out.head = head
    return out

def on_features(r:dict, feats:list, n_out:int) -> dict:
    "Recipe `r` on cached features: held-out probabilities, seconds of training, and what the unknown check needs."
    import torch
    v = r['views']
    cat = lambda name, n=None: torch.cat([f.part(name)[0][:n] for f in feats], -1)  # backbones side by side
    xs, ys = cat('train', v), feats[0].part('train')[1]
    secs = sum(sum(f.part('train')[2][:v]) for f in feats)
    if r['all']:
        xs, ys = torch.cat([xs, cat('valid_aug', v)], 1), torch.cat([ys, feats[0].part('valid_aug')[1]])
        secs += sum(sum(f.part('valid_aug')[2][:v]) for f in feats)
    else: secs += sum(sum(f.part('valid_c')[2]) for f in feats)  # pets train computes them: validation, calibration
    start = time.perf_counter()
    logits = train_head(r, feats[0].learn, xs, ys, n_out, feats[0].seed)
    secs += time.perf_counter() - start
    centre = cat('hold_c')[0]
    probs = logits(centre).softmax(-1)
    if r['tta']:
        aug = logits(cat('hold_aug')).softmax(-1).mean(0)
        probs = torch.lerp(aug, probs, 0.25)  # fastai's learn.tta: beta 0.25
    return dict(probs=probs, secs=secs, logits=logits, cat=cat)

def stage2(r:dict, feats, head, holdout:list) -> tuple:
    "The head trained on cached features put on a new model of the same backbone, then `r['stage2']` unfrozen epochs."
    from pets_classifier.learner import pets_learner
    from pets_classifier.train import fit_unfrozen
    learn = pets_learner(feats.dls, BACKBONES[feats.key][0])  # a new one: the cached body must stay as it was
    learn.model[1][2:].load_state_dict(head.state_dict())
    start = time.perf_counter()
    with learn.no_bar(), learn.no_logging():
        fit_unfrozen(learn, r['stage2'], 1e-4)
        secs = time.perf_counter() - start
        preds, _ = learn.get_preds(dl=feats.dls.test_dl(holdout, with_labels=True))
    return preds.float(), secs

def library_default(seed:int, train:Path, holdout:list) -> tuple:
    "`pets train`'s recipe from the library's calls: (held-out accuracy, seconds) after stage 1 and after stage 2."
    from fastai.vision.all import set_seed
    from pets_classifier.data import pets_dataloaders
    from pets_classifier.learner import pets_learner
    from pets_classifier.features import head_features
    from pets_classifier.train import fit_head, fit_unfrozen
    set_seed(seed, reproducible=True)
    dls = pets_dataloaders(train, seed=seed, size=224, bs=32, num_workers=0, verbose=False)
    learn = pets_learner(dls, 'efficientnet_lite0')
    def acc():
        probs, targets = learn.get_preds(dl=dls.test_dl(holdout, with_labels=True))
        return held_accuracy(probs, targets)
    with learn.no_bar(), learn.no_logging():
        start = time.perf_counter()
        fit_head(learn, head_features(learn, 8), 15, 5e-3, save_as=None)
        s1 = time.perf_counter() - start; a1 = acc()
        start = time.perf_counter()
        fit_unfrozen(learn, 2, 1e-4)
        s2 = s1 + time.perf_counter() - start
        return (a1, s1), (acc(), s2)

def unknown_rows(name:str, seed:int, how:str, logits_h, logits_o, targets_h, cal_logits, cal_targets, secs:float):
    "A line of the unknown comparison: the threshold `calibrate` picks on `cal_logits`, on held-out pets and others."
    from pets_classifier.calibrate import calibrate
    from pets_classifier.predict import known_scores
    cal = calibrate(cal_logits.float(), cal_targets)
    t, thr = cal['temperature'], cal['thresholds']['energy']
    right = (logits_h.argmax(1) == targets_h).numpy()
    flag_h = known_scores(logits_h.numpy(), t, 'energy') < thr
    flag_o = known_scores(logits_o.numpy(), t, 'energy') < thr
    return dict(recipe=name, seed=seed, how=how, n_cal=len(cal_targets), T=t, threshold=thr,
                pets_flagged=float(flag_h[right].mean()), others_caught=float(flag_o.mean()), secs=secs,
                right=int(right.sum()), n_right_cal=int((cal_logits.argmax(1) == cal_targets).sum()))

OOF = {}  # (backbone, views, epochs, lr, folds, seed) -> the out-of-fold step, once: recipes that differ elsewhere share it

def unknown_checks(name:str, r:dict, seed:int, out:dict, feats:list, folds:int) -> list:
    "The validation threshold (train-only recipes) and the out-of-fold one (as `pets train` chooses it), for recipe `r`."
    import torch
    from pets_classifier.features import feature_loaders, out_of_fold
    from pets_classifier.finish import OOF_EPOCHS
    cat, f0 = out['cat'], feats[0]
    logits_h, logits_o = out['logits'](cat('hold_c')[0]), out['logits'](cat('others_c')[0])
    targets_h = f0.part('hold_c')[1]
    rows = []
    if not r['all']:
        rows.append(unknown_rows(name, seed, 'validation', logits_h, logits_o, targets_h,
                                 out['logits'](cat('valid_c')[0]), f0.part('valid_c')[1],
                                 sum(sum(f.part('valid_c')[2]) for f in feats)))
    key = (f0.key, r['views'], min(r['epochs'], OOF_EPOCHS), r['lr'], folds, seed)
    if key not in OOF:
        (xs, ys, _), (vx, vy, _) = f0.part('train'), f0.part('valid_c')  # as head_features lays them out
        xs = xs[:r['views']]
        features = feature_loaders(xs.reshape(-1, xs.shape[-1]), ys.repeat(len(xs)), vx[0], vy)
        OOF[key] = out_of_fold(f0.learn, features, k=folds, epochs=key[2], lr=r['lr'], seed=seed)
    oof = OOF[key]; secs = oof.seconds  # `out_of_fold`'s own time: the heads, trained and run
    rows.append(unknown_rows(name, seed, f'out-of-fold, {folds} folds', logits_h, logits_o, targets_h,
                             torch.from_numpy(oof.logits), torch.from_numpy(oof.labels), secs))
    return rows

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--data', default='../shared/data/pets-real-dev/images', help="folder of <breed>_<n>.jpg photos")
    ap.add_argument('--recipes', nargs='+', default=DEFAULT, help="recipe ids (see --list), or all (default: those "
                    "that took 44 minutes on 2 shared cores)")
    ap.add_argument('--seeds', nargs='+', type=int, default=[1, 2, 3], help="seeds of the split and training draws")
    ap.add_argument('--stock-seeds', nargs='*', type=int, default=None,
                    help="seeds of --seeds to run stock fastai's lesson recipe with, each before ours (default: the "
                    "middle one; none: skip it)")
    ap.add_argument('--unknown', nargs='*', default=['l0', 'l2', 'l2-all'],
                    help="recipes whose unknown thresholds to compare (those also in --recipes)")
    ap.add_argument('--folds', type=int, default=3, help="folds of the out-of-fold logits (pets train's: 3)")
    ap.add_argument('--threads', type=int, default=1, help="torch threads (1 on a shared machine)")
    ap.add_argument('--list', action='store_true', help="print the recipes and exit")
    a = ap.parse_args()
    if a.list:
        for k, spec in RECIPES.items(): print(f"{k:18s} {describe(spec)}")
        return
    if a.recipes == ['all']: a.recipes = list(RECIPES)
    unknown_ids = [k for k in RECIPES if k in a.unknown and k in a.recipes]
    if bad := [k for k in a.recipes + a.unknown if k not in RECIPES]: sys.exit(f"unknown recipes: {bad}; see --list")
    if bad := [k for k in unknown_ids if len({**HEAD, **RECIPES[k]}['keys']) > 1 or RECIPES[k].get('head', 'mlp') != 'mlp'
               or RECIPES[k].get('lib')]:
        sys.exit(f"--unknown {' '.join(bad)}: the unknown check takes recipes of one backbone and an mlp head")
    os.environ.setdefault('PETS_CACHE', str(Path(tempfile.gettempdir())/'pets-bench-cache'))
    import numpy as np, torch
    torch.set_num_threads(a.threads)
    from accuracy import holdout_split, stock_lesson
    from pets_classifier.samples import make_non_pets, scratch_dir
    started = time.perf_counter()
    work = scratch_dir('pets-fewshot-')  # the held-out split's links and the other photos: gone when the run ends
    train, hold_dir = holdout_split(Path(a.data), work)
    holdout, others = sorted(hold_dir.iterdir()), make_non_pets(work/'non_pets')
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, torch threads {torch.get_num_threads()}, seeds {a.seeds}: "
          f"{len(list(train.iterdir()))} photos to train on (80/20 train/validation), {len(holdout)} held out, "
          f"{len(others)} photos of other things")
    stock_seeds = a.seeds[len(a.seeds) // 2:][:1] if a.stock_seeds is None else a.stock_seeds
    results = {k: [] for k in ['stock', *a.recipes] + (['default-stage1'] if 'default' in a.recipes else [])}
    unknown = []
    for seed in a.seeds:
        if seed in stock_seeds:  # beside ours, seed by seed: the load of a shared machine changes over a run
            secs, acc = stock_lesson(train, hold_dir, 'efficientnet_lite0', seed=seed)
            results['stock'].append((seed, acc, secs))
            print(f"  seed {seed} stock fastai lesson recipe: {acc:.3f} in {secs:.0f} s", flush=True)
        specs = {k: {**HEAD, **RECIPES[k]} for k in a.recipes}
        most = lambda k, f: max([s['views'] for s in specs.values() if k in s['keys'] and f(s)], default=8)
        views = {k: dict(train=most(k, lambda s: not s.get('lib')), valid=most(k, lambda s: s['all']))
                 for k in BACKBONES}
        cache = {}
        feats_of = lambda k: cache.setdefault(k, Features(seed, k, train, holdout, others, views[k]))
        for k in a.recipes:
            r = specs[k]
            if r.get('lib'):
                (a1, s1), (a2, s2) = library_default(seed, train, holdout)
                results['default-stage1'].append((seed, a1, s1)); results[k].append((seed, a2, s2))
                print(f"  seed {seed} default: stage 1 {results['default-stage1'][-1][1]:.3f} in {s1:.0f} s, "
                      f"after stage 2 {results[k][-1][1]:.3f} in {s2:.0f} s", flush=True)
                continue
            feats = [feats_of(key) for key in r['keys']]
            n_out, targets = len(feats[0].dls.vocab), feats[0].part('hold_c')[1]
            out = on_features(r, feats, n_out)
            probs, secs = out['probs'], out['secs']
            if r['stage2']:
                probs, s2 = stage2(r, feats[0], out['logits'].head, holdout); secs += s2
            results[k].append((seed, held_accuracy(probs, targets), secs))
            print(f"  seed {seed} {k}: {results[k][-1][1]:.3f} in {secs:.0f} s", flush=True)
            if k in unknown_ids:
                unknown += unknown_checks(k, r, seed, out, feats, a.folds)
                for u in unknown[-2:] if not r['all'] else unknown[-1:]:
                    print(f"    unknown, {u['how']}: T {u['T']:.2f}, threshold {u['threshold']:.2f} from "
                          f"{u['n_right_cal']}/{u['n_cal']} photos; flags {u['pets_flagged']:.1%} of {u['right']} "
                          "right "
                          f"held-out pets, catches {u['others_caught']:.1%} of others", flush=True)
        cache.clear()

    s_secs = np.mean([s for _, _, s in results['stock']]) if results['stock'] else None
    print(f"\nheld-out accuracy on {len(holdout)} photos never trained on, over seeds {a.seeds}; training seconds "
          f"(mean); torch threads {torch.get_num_threads()}; {time.perf_counter() - started:.0f} s in all")
    print(f"{'recipe':18s} {'mean':>6s} {'sd':>6s} {'min-max':>12s} {'seconds':>8s} {'x stock':>8s}  "
          "per seed; what it is")
    for k, rows in results.items():
        if not rows: continue
        accs, secs = np.array([a_ for _, a_, _ in rows]), np.mean([s for _, _, s in rows])
        what = ("stock fastai lesson recipe: presizing, 3 frozen epochs at 3e-3 + 6 unfrozen at slice(1e-6, 1e-4), "
                "lite0" if k == 'stock' else 'the same run as default, before stage 2' if k == 'default-stage1'
                else describe(RECIPES[k]))
        ratio = f"{secs / s_secs:8.2f}" if s_secs else f"{'':8s}"
        print(f"{k:18s} {accs.mean():6.3f} {accs.std(ddof=1) if len(accs) > 1 else 0:6.3f} "
              f"{accs.min():.3f}-{accs.max():.3f} {secs:8.0f} {ratio}  {' '.join(f'{x:.3f}' for x in accs)}; {what}")
    if unknown:
        print(f"\nunknown (energy, threshold below 5% of the correctly classified calibration photos), mean over seeds "
              f"{a.seeds}; targets: <= 5% of right held-out pets flagged, >= 90% of {len(others)} others caught")
        print(f"{'recipe':18s} {'threshold from':28s} {'photos':>7s} {'pets flagged':>13s} {'others caught':>14s} "
              f"{'seconds':>8s}  per seed (pets flagged / others caught)")
        for name in unknown_ids:
            for how in dict.fromkeys(u['how'] for u in unknown if u['recipe'] == name):
                us = [u for u in unknown if u['recipe'] == name and u['how'] == how]
                per = ' '.join(f"{u['pets_flagged']:.1%}/{u['others_caught']:.1%}" for u in us)
                print(f"{name:18s} {how:28s} {np.mean([u['n_cal'] for u in us]):7.0f} "
                      f"{np.mean([u['pets_flagged'] for u in us]):13.1%} "
                      f"{np.mean([u['others_caught'] for u in us]):14.1%} "
                      f"{np.mean([u['secs'] for u in us]):8.0f}  {per}")

if __name__ == '__main__': main()
