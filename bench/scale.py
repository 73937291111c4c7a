"""How the cost of each stage grows with the images: time and peak memory at 389, 2,000 and 7,390 images, and stage
1's features alone at 50,000 with a memory budget small enough to send them to disk.

    python bench/scale.py --data ../shared/data/pets-real-dev/images
    python bench/scale.py --counts 389 2000 --big 0      # quicker: two sizes, no 50,000

The folders are the real photos, each used again and again with a fresh random crop (60-100 % of its area) and
flip, written as JPEGs of at most --side pixels and named like Oxford-IIIT Pet (`<Breed>_<n>.jpg`), so that no two
files are the same. Each size runs in a fresh process: the check (`check_images`), the DataLoaders, stage 1's
features (`head_features`, --views views), the head's epochs, one unfrozen epoch, and predict (`load_model`,
`predict` on every image), with efficientnet_lite0 at --size pixels; then, in another process, stock fastai's
frozen epoch at the same size (the lesson's presizing `DataBlock`, `vision_learner`, `fit_one_cycle(1)`). Peak memory
is the process's resident set (VmHWM, reset before each stage), and the CUDA allocator's peak where there is a GPU.
Growth is given per doubling of the images, of the CPU seconds (steadier than wall time on a shared machine): 2.0x
is linear, under 2 grows more slowly than the images.
"""
import argparse, json, math, os, random, subprocess, sys, tempfile, time, warnings
from pathlib import Path
warnings.filterwarnings('ignore')

# -- folders of images -------------------------------------------------------------------------------------------------

def sources(src:Path, side:int) -> list:
    "(breed, photo) of every real photo, decoded once and shrunk so its shorter side is 1.5 * `side`."
    from PIL import Image
    from pets_classifier.data import name_regex
    out = []
    for f in sorted(src.iterdir()):
        m = name_regex().match(f.name)
        if not m: continue
        with Image.open(f) as im:
            im = im.convert('RGB')
            im.thumbnail((10**6, int(1.5 * side)) if im.width > im.height else (int(1.5 * side), 10**6))
            out.append((m.group(1), im.copy()))
    return out

def make_folder(photos:list, n:int, dest:Path, side:int, seed:int=0) -> Path:
    "`n` JPEGs in `dest`: the photos in turn, each a fresh random crop (60-100 % of the area) and flip, at most `side` px."
    from PIL import Image
    rng, counts = random.Random(seed), {}
    dest.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        breed, im = photos[i % len(photos)]
        scale, aspect = rng.uniform(0.6, 1), math.exp(rng.uniform(math.log(3/4), math.log(4/3)))
        w = min(im.width, int(round(math.sqrt(scale * im.width * im.height * aspect))))
        h = min(im.height, int(round(math.sqrt(scale * im.width * im.height / aspect))))
        x, y = rng.randint(0, im.width - w), rng.randint(0, im.height - h)
        crop = im.crop((x, y, x + w, y + h))
        if rng.random() < 0.5: crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        crop.thumbnail((side, side))
        counts[breed] = counts.get(breed, 0) + 1
        crop.save(dest/f"{breed}_{counts[breed]}.jpg", quality=90)
    return dest

# -- measuring a stage -------------------------------------------------------------------------------------------------

def _status(key:str) -> int:
    "A field of /proc/self/status in bytes (VmRSS, VmHWM); 0 where there is no /proc."
    try: return next(int(l.split()[1]) * 1024 for l in open('/proc/self/status') if l.startswith(key + ':'))
    except (OSError, StopIteration): return 0

def measure(stages:dict, name:str, fn):
    "Run `fn()`, keep its seconds, peak RSS (the peak reset first) and CUDA peak in `stages[name]`; return its result."
    import torch
    try: open('/proc/self/clear_refs', 'w').write('5')  # Linux: VmHWM starts again from the RSS now
    except OSError: pass
    cuda = torch.cuda.is_available()
    if cuda: torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
    before, t, cpu = _status('VmRSS'), time.perf_counter(), time.process_time()
    res = fn()
    if cuda: torch.cuda.synchronize()
    stages[name] = dict(seconds=time.perf_counter() - t, cpu=time.process_time() - cpu, rss_before=before, rss_peak=_status('VmHWM'),
                        gpu_peak=torch.cuda.max_memory_allocated() if cuda else None)
    return res

# -- the measurements, each in its own process -------------------------------------------------------------------------

def ours(folder:Path, size:int, views:int, head_epochs:int, tmp:Path) -> dict:
    "Every stage of `pets train` (and predict) on `folder`, as the library runs them."
    from fastai.vision.all import set_seed
    from pets_classifier.check import check_images
    from pets_classifier.data import pets_dataloaders
    from pets_classifier.learner import pets_learner
    from pets_classifier.features import head_features, drop_features
    from pets_classifier.train import fit_head, fit_unfrozen
    from pets_classifier.inference import save_model, load_model
    from pets_classifier.predict import predict, image_files
    set_seed(2, reproducible=True)
    st = {}
    checked = measure(st, 'check', lambda: check_images(folder))
    dls = measure(st, 'dataloaders', lambda: pets_dataloaders(folder, bs=32, num_workers=0, size=size, verbose=False,
                                                             skip=checked.skipped))
    learn = pets_learner(dls, 'efficientnet_lite0', path=tmp)
    learn.remove_cbs(learn.cbs.filter(lambda c: type(c).__name__ == 'ProgressCallback')); learn.logger = lambda r: None
    feats = measure(st, 'features', lambda: head_features(learn, views))
    measure(st, 'head epochs', lambda: fit_head(learn, feats, epochs=head_epochs, lr=5e-3, save_as=None))
    drop_features(feats)
    measure(st, 'unfrozen epoch', lambda: fit_unfrozen(learn, epochs=1))
    save_model(learn, tmp/'model')
    files = image_files([folder])
    measure(st, 'predict', lambda: predict(load_model(tmp/'model'), files, bs=64))
    for k in ('seconds', 'cpu'): st['head epochs'][k] /= head_epochs  # per epoch
    return dict(stages=st, images=len(files), train=len(dls.train_ds), features=feats.train_ds.xs.shape[1])

def stock(folder:Path, size:int, tmp:Path) -> dict:
    "Stock fastai's frozen epoch: the lesson's presizing DataBlock at `size`, `vision_learner`, `fit_one_cycle(1)`."
    from fastai.vision.all import vision_learner, accuracy, get_image_files, set_seed
    from pets_classifier.data import pets_block, name_labeller
    from pets_classifier.models import resolve_arch
    set_seed(2, reproducible=True)
    dls = pets_block(name_labeller(), size=size, presize=int(size * 460 / 224)).dataloaders(get_image_files(folder),
                                                                                             bs=32, num_workers=0)
    model_arch, kw = resolve_arch('efficientnet_lite0')
    learn = vision_learner(dls, model_arch, metrics=accuracy, path=tmp, **kw)
    learn.remove_cbs(learn.cbs.filter(lambda c: type(c).__name__ == 'ProgressCallback')); learn.logger = lambda r: None
    st = {}
    measure(st, 'stock frozen epoch', lambda: learn.fit_one_cycle(1, 3e-3))
    return dict(stages=st)

def features_alone(folder:Path, size:int, views:int, memory:float, tmp:Path) -> dict:
    "Stage 1's features alone on `folder` with a budget of `memory` GB: where they went, how big, the peak RSS."
    from fastai.vision.all import set_seed
    from pets_classifier.data import pets_dataloaders
    from pets_classifier.learner import pets_learner
    from pets_classifier.features import head_features, FEATURES_FILE, drop_features
    set_seed(2, reproducible=True)
    dls = pets_dataloaders(folder, bs=32, num_workers=0, size=size, verbose=False)
    learn = pets_learner(dls, 'efficientnet_lite0', path=tmp)
    st = {}
    feats = measure(st, 'features', lambda: head_features(learn, views, memory=memory))
    xs = feats.train_ds.xs
    rows = len(xs) + len(feats.valid_ds)
    res = dict(stages=st, rows=rows, bytes=rows * xs.shape[1] * 2, file=str(feats.file),
               file_bytes=(tmp/FEATURES_FILE).stat().st_size if feats.file else 0, budget=memory * 1e9)
    drop_features(feats)
    return res

def worker(kind:str, args:list) -> dict:
    "Run one measurement in a fresh process (clean peak memory); its JSON result."
    res = subprocess.run([sys.executable, __file__, '--worker', kind, *map(str, args)], capture_output=True, text=True)
    if res.returncode: sys.exit(f"{kind} {args} failed:\n{res.stdout[-2000:]}\n{res.stderr[-4000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])

# -- the table ---------------------------------------------------------------------------------------------------------

def per_doubling(n1:int, t1:float, n2:int, t2:float) -> float:
    "How much `t` grows each time the images double, from (n1, t1) to (n2, t2): 2.0 is linear."
    return 2 ** (math.log(t2 / t1) / math.log(n2 / n1)) if t1 > 0 and t2 > 0 else math.nan

def table(counts:list, results:list) -> list:
    "Lines: each stage's seconds (wall, CPU) and peak RSS at each size, and its CPU time's growth per doubling."
    mb = lambda b: f"{b / 2**20:6.0f}"
    names = [k for r in results for k in r['stages']]
    names = list(dict.fromkeys(names))
    gpu = any(s['gpu_peak'] is not None for r in results for s in r['stages'].values())
    head = f"{'stage':20s}" + ''.join(f"{f'{n:,d} img: wall, CPU s':>26s}" for n in counts) + \
        '   CPU per doubling (each step; overall)' + ''.join(f"  RSS MB @{n:,d}" for n in counts) + \
        (''.join(f"  GPU MB @{n}" for n in counts) if gpu else '')
    lines = [head]
    for name in names:
        secs = [r['stages'][name]['cpu'] for r in results]
        steps = [per_doubling(counts[i], secs[i], counts[i + 1], secs[i + 1]) for i in range(len(counts) - 1)]
        overall = per_doubling(counts[0], secs[0], counts[-1], secs[-1]) if len(counts) > 1 else math.nan
        line = f"{name:20s}" + ''.join(f"{r['stages'][name]['seconds']:17.2f} {r['stages'][name]['cpu']:8.2f}" for r in results) + \
            f"   {' '.join(f'{g:.2f}x' for g in steps):>22s}; {overall:.2f}x" + \
            ''.join(f"{mb(r['stages'][name]['rss_peak']):>{len(f'  RSS MB @{n:,d}')}s}" for n, r in zip(counts, results))
        if gpu: line += ''.join(f"{mb(r['stages'][name]['gpu_peak'] or 0):>12s}" for r in results)
        lines.append(line)
    return lines

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--data', default='../shared/data/pets-real-dev/images')
    ap.add_argument('--counts', type=int, nargs='+', default=[389, 2000, 7390], help="images in each folder")
    ap.add_argument('--big', type=int, default=50_000, help="images for the features stage alone (0: skip it)")
    ap.add_argument('--size', type=int, default=32, help="image side the model sees")
    ap.add_argument('--side', type=int, default=64, help="largest side of the JPEGs written")
    ap.add_argument('--views', type=int, default=2, help="views of stage 1's features (pets train: 8)")
    ap.add_argument('--big-views', type=int, default=1, help="views of the features alone at --big images")
    ap.add_argument('--head-epochs', type=int, default=3, help="head epochs timed (seconds given per epoch)")
    ap.add_argument('--budget', type=float, default=0.05, help="GB of features in memory at --big images (pets train: 4)")
    ap.add_argument('--threads', type=int, default=1, help="torch threads of each measurement: 1 keeps CPU seconds a count of "
                    "the work on a shared machine (a second thread waiting for a busy core spins, and those seconds count)")
    ap.add_argument('--worker', help=argparse.SUPPRESS)
    a, rest = ap.parse_known_args()
    os.environ.setdefault('PETS_CACHE', str(Path(tempfile.gettempdir())/'pets-bench-cache'))
    if a.worker:
        import torch
        if a.threads: torch.set_num_threads(a.threads)
        folder, tmp = Path(rest[0]), Path(tempfile.mkdtemp())
        res = dict(ours=lambda: ours(folder, a.size, a.views, a.head_epochs, tmp), stock=lambda: stock(folder, a.size, tmp),
                   features=lambda: features_alone(folder, a.size, a.big_views, a.budget, tmp))[a.worker]()
        print(json.dumps(res)); return
    common = ['--threads', a.threads, '--size', a.size, '--views', a.views, '--head-epochs', a.head_epochs, '--big-views', a.big_views,
              '--budget', a.budget]
    tmp = Path(tempfile.mkdtemp(prefix='pets-scale-'))
    t = time.perf_counter()
    photos = sources(Path(a.data), a.side)
    print(f"{len(photos)} real photos, lite0 at {a.size} px, JPEGs of at most {a.side} px, {a.views} views, "
          f"{a.threads or 'all'} torch thread(s) of {os.cpu_count()} CPU cores; one process per measurement", flush=True)
    results = []
    for n in a.counts:
        folder = make_folder(photos, n, tmp/f'n{n}'/'images', a.side)
        r = worker('ours', [folder, *common]); r['stages'].update(worker('stock', [folder, *common])['stages'])
        results.append(r)
        print(f"  {n} images ({r['train']} to train, {r['features']} features an image): " +
              ', '.join(f"{k} {v['seconds']:.1f} s" for k, v in r['stages'].items()), flush=True)
    print('\n'.join(table(a.counts, results)))
    if a.big:
        folder = make_folder(photos, a.big, tmp/f'n{a.big}'/'images', a.side)
        f = worker('features', [folder, *common])
        s = f['stages']['features']
        print(f"features alone, {a.big} images x {a.big_views} view(s) + validation = {f['rows']} rows: "
              f"{s['seconds']:.0f} s wall, {s['cpu']:.0f} s CPU ({f['rows'] / s['cpu']:.0f} rows a CPU second); "
              f"{f['bytes'] / 2**20:.0f} MB of features against a budget of {f['budget'] / 2**20:.0f} MB: "
              f"{'on disk, ' + str(round(f['file_bytes'] / 2**20)) + ' MB file' if f['file'] != 'None' else 'in memory'}; "
              f"peak RSS {s['rss_peak'] / 2**20:.0f} MB, {(s['rss_peak'] - s['rss_before']) / 2**20:.0f} MB above the "
              f"{s['rss_before'] / 2**20:.0f} MB before the stage (target: within the budget)")
        if len(results):
            work = lambda views: 0.8 * views + 0.2  # images through the body per image: training ones `views` times
            n0, s0 = a.counts[-1], results[-1]['stages']['features']['cpu'] / work(a.views) * work(a.big_views)
            print(f"  features' CPU time per doubling from {n0} ({a.views} views, scaled to {a.big_views}) to {a.big}: "
                  f"{per_doubling(n0, s0, a.big, s['cpu']):.2f}x")
    print(f"scale: every stage's time per doubling of the images at most 2x (target); bench took "
          f"{time.perf_counter() - t:.0f} s")

if __name__ == '__main__': main()
