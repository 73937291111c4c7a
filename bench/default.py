"""The default `pets train` on few photos, over seeds, beside stock fastai's lesson recipe in the same run (issue 26).

    python bench/default.py --data ../shared/data/pets-real-dev/images --seeds 1 2 3

Every fifth photo of each breed is held out (as bench/accuracy.py does); the rest are the training folder. For each
seed, the whole `pets train --data TRAIN --seed S` command with its defaults (on a machine without a GPU `--arch auto`
picks the offline recipe: efficientnet_lite2 at 260 px on cached features, no stage 2), timed end to end; then on the
held-out photos its model's accuracy without and with test-time augmentation (`--tta`: each photo and its mirror
image) and the time per photo of each, and its unknown rule (model.json's threshold: out-of-fold when there is no
stage 2) on the held-out pets and on 118 photos of other things (`make_non_pets`). Stock: the lesson's recipe in
fastai alone (bench/accuracy.py's `stock_lesson`), once, with the first seed.
"""
import argparse, json, os, statistics, sys, tempfile, time, warnings
from pathlib import Path
warnings.filterwarnings('ignore')
sys.path.insert(0, str(Path(__file__).parent))

def held_out(run:Path, holdout:Path, others:list) -> dict:
    "Accuracy with and without TTA, seconds per photo of each, and the unknown rule's flags, for the model in `run`."
    import numpy as np
    from pets_classifier.inference import load_model, evaluate
    from pets_classifier.predict import predict
    clf, n = load_model(run), len(list(holdout.iterdir()))
    res = {}
    for tta in (False, True):
        t = time.perf_counter()
        e = evaluate(clf, holdout, tta=tta)
        res['tta' if tta else 'plain'] = (e['accuracy'], (time.perf_counter() - t) / n)
        if not tta: res['pets_flagged'] = e['correct_called_unknown']
    res['others_caught'] = float(np.mean([r['unknown'] for r in predict(clf, others)]))
    res['thresholds_from'] = clf.calibration.get('thresholds_from', 'validation')
    return res

def machine() -> str:
    "The CPU's model, the instruction set torch runs at, whether `--precision auto` takes bf16 there, torch's threads."
    import platform, re, torch
    from pets_classifier.models import cpu_bf16
    try: model = re.search(r'model name\s*:\s*(.+)', Path('/proc/cpuinfo').read_text()).group(1)
    except (OSError, AttributeError): model = platform.processor() or platform.machine()
    limits = ' '.join(f"{k}={os.environ[k]}" for k in ('ATEN_CPU_CAPABILITY', 'ONEDNN_MAX_CPU_ISA') if k in os.environ)
    return (f"CPU: {model}, {os.cpu_count()} cores, torch at {torch.backends.cpu.get_cpu_capability()}"
            f"{f' ({limits})' if limits else ''}, bf16 units used: {cpu_bf16()}, {torch.get_num_threads()} threads")

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--data', default='../shared/data/pets-real-dev/images')
    ap.add_argument('--seeds', nargs='+', type=int, default=[1, 2, 3])
    ap.add_argument('--stock', type=int, default=1, help="stock fastai runs (each with the next seed); 0: none")
    a = ap.parse_args()
    os.environ.setdefault('PETS_CACHE', str(Path(tempfile.gettempdir())/'pets-bench-cache'))
    from accuracy import holdout_split, stock_lesson
    from pets_classifier.cli import main as pets
    from pets_classifier.samples import make_non_pets
    from pets_classifier.run_folder import read_config
    tmp = Path(tempfile.mkdtemp())
    train, holdout = holdout_split(Path(a.data), tmp)
    others = make_non_pets(tmp/'others')
    print(machine())
    print(f"{len(list(train.iterdir()))} photos to train on, {len(list(holdout.iterdir()))} held out, "
          f"{len(others)} photos of other things; seeds {a.seeds}")
    stock = []
    for seed in a.seeds[:a.stock]:
        secs, acc = stock_lesson(train, holdout, 'efficientnet_lite0', seed=seed)
        stock.append((secs, acc)); print(f"  stock fastai lesson recipe, seed {seed}: {acc:.3f} in {secs:.0f} s of training")
    rows = []
    for seed in a.seeds:
        run = tmp/f'run-{seed}'
        t = time.perf_counter()
        assert pets(['train', '--data', str(train), '--seed', str(seed), '--out', str(run), '--quiet']) == 0
        secs, cfg = time.perf_counter() - t, read_config(run)
        r = held_out(run, holdout, others)
        rows.append((secs, r))
        print(f"  stages (s), seed {seed}, {cfg['settings'].precision}: {cfg['results']['seconds_by_stage']}")
        print(f"  pets train, seed {seed}: {cfg['arch']} at {cfg['settings'].size} px, {cfg['settings'].epochs} "
              f"unfrozen epochs ({cfg['resolved']['arch_why']}); {secs:.0f} s; held-out {r['plain'][0]:.3f}, "
              f"with TTA {r['tta'][0]:.3f}; unknown ({r['thresholds_from']}): {r['pets_flagged']:.1%} of right pets, "
              f"{r['others_caught']:.1%} of other things", flush=True)
    mean = lambda xs: (statistics.mean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.)
    acc, tta = mean([r['plain'][0] for _, r in rows]), mean([r['tta'][0] for _, r in rows])
    secs, stock_secs = statistics.mean(s for s, _ in rows), statistics.mean(s for s, _ in stock) if stock else None
    print(f"\ndefault pets train, {len(rows)} seeds: held-out accuracy {acc[0]:.3f} (sd {acc[1]:.3f}); with TTA "
          f"{tta[0]:.3f} (sd {tta[1]:.3f}); whole command {secs:.0f} s"
          + (f" = {secs / stock_secs:.2f}x stock's training ({stock_secs:.0f} s, accuracy "
             f"{statistics.mean(a for _, a in stock):.3f})" if stock else ''))
    per_photo = [r['plain'][1] for _, r in rows], [r['tta'][1] for _, r in rows]
    print(f"time per held-out photo (evaluate, batches of 32): {1000 * statistics.mean(per_photo[0]):.1f} ms, with TTA "
          f"{1000 * statistics.mean(per_photo[1]):.1f} ms")
    print(f"unknown: {statistics.mean(r['pets_flagged'] for _, r in rows):.1%} of correctly classified held-out pets "
          f"flagged (target <= 5%), {statistics.mean(r['others_caught'] for _, r in rows):.1%} of other things caught "
          "(target >= 90%)")
    print(json.dumps(dict(rows=[(s, r) for s, r in rows], stock=stock)))

if __name__ == '__main__': main()
