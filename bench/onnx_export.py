"""The exported ONNX model against PyTorch and stock fastai: equality, held-out accuracy (fp32 and int8), start-up,
per-image latency and batched images/s, on the same photos and weights in one run.

    python bench/onnx_export.py --data ../shared/data/pets-real-dev/images            # trains a model on 4 photos in 5 first (~90 s)
    python bench/onnx_export.py --data ../shared/data/pets-real-dev/images --model RUN --holdout DIR   # a model trained without DIR

Without `--model`, every fifth photo of each breed is held out (as bench/accuracy.py does) and `pets train --arch
efficientnet_lite0` trains on the rest. `pets export RUN --int8 static` writes model.onnx and model.int8.onnx (static
quantisation, calibrated on 32 training photos); onnxruntime's dynamic int8 is measured beside them. Contenders, one
photo at a time, interleaved: stock fastai `learn.predict` (fp32, as fastai runs on a CPU), `pets predict RUN`
(PyTorch, in the precision `auto` picks: bf16 on a CPU with bfloat16 units), `pets predict model.onnx` (onnxruntime
fp32, and the int8 files). Start-up: a fresh process from start to its first answer, `pets predict` both ways against
`load_learner` + `learn.predict`.
"""
import argparse, os, statistics, subprocess, sys, tempfile, time, warnings
from pathlib import Path
warnings.filterwarnings('ignore')
sys.path.insert(0, str(Path(__file__).parent))
from predict import interleaved  # noqa: E402  (bench/predict.py: calls interleaved so drift hits all alike)

def startup(cmd:list, repeat:int=3) -> float:
    "Median wall seconds of a fresh process from start to exit (it answers one photo)."
    times = []
    for _ in range(repeat):
        t = time.perf_counter(); subprocess.run(cmd, check=True, capture_output=True); times.append(time.perf_counter() - t)
    return statistics.median(times)

def trained_model(data:Path, work:Path) -> tuple:
    "A run of `pets train` on 4 of every 5 photos of each breed, and the held-out folder."
    from accuracy import holdout_split
    train, holdout = holdout_split(data, work)
    t = time.perf_counter()
    subprocess.run(['pets', 'train', '--data', str(train), '--arch', 'efficientnet_lite0', '--out', str(work/'run'), '--quiet'], check=True)
    print(f"trained {work/'run'} in {time.perf_counter() - t:.0f} s")
    return work/'run', holdout

def accuracy(clf, files:list, labels:list) -> tuple:
    "Held-out accuracy of `clf`, and its top classes."
    from pets_classifier.predict import predict
    top = [r['top'][0][0] for r in predict(clf, files, top_k=1)]
    return sum(t == l for t, l in zip(top, labels)) / len(files), top

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--data', default='../shared/data/pets-real-dev/images', help="folder of <breed>_<n>.jpg photos")
    ap.add_argument('--model', help="a run folder from `pets train` (default: train one on 4/5 of --data)")
    ap.add_argument('--holdout', help="photos --model never saw (with --model)")
    ap.add_argument('--n', type=int, default=48, help="photos timed one by one")
    a = ap.parse_args()
    os.environ.setdefault('PETS_CACHE', str(Path(tempfile.gettempdir())/'pets-bench-cache'))
    work = Path(tempfile.mkdtemp())
    run, holdout = (Path(a.model), Path(a.holdout)) if a.model else trained_model(Path(a.data), work)

    import numpy as np, torch
    from pets_classifier.data import pets_dataloaders, label_images
    from pets_classifier.learner import pets_learner
    from pets_classifier.inference import load_model
    from pets_classifier.predict import load_onnx, predict, open_image, image_files
    from pets_classifier.export import quantize_onnx

    t = time.perf_counter()
    subprocess.run(['pets', 'export', str(run), '--int8', 'static'], check=True)
    export_s = time.perf_counter() - t
    dynamic = quantize_onnx(run/'model.onnx', work/'model.dynamic.onnx', method='dynamic')
    sizes = {k: (run/f).stat().st_size / 1e6 for k, f in (('fp32', 'model.onnx'), ('int8', 'model.int8.onnx'))}
    onnx32, onnx8, onnxdyn = load_onnx(run/'model.onnx'), load_onnx(run/'model.int8.onnx'), load_onnx(dynamic)
    torch32, ours = load_model(run, precision='fp32'), load_model(run)
    print(f"model {run} ({ours.arch}); pets export --int8 static: {export_s:.1f} s; model.onnx {sizes['fp32']:.1f} MB, "
          f"model.int8.onnx {sizes['int8']:.1f} MB; torch threads {torch.get_num_threads()}")

    # equality on every photo, then held-out accuracy
    files = image_files([a.data])
    imgs = [open_image(f) for f in files]
    p_torch = np.concatenate([torch32.probs(imgs[i:i+32]).numpy() for i in range(0, len(imgs), 32)])
    p_onnx = np.concatenate([onnx32.probs(imgs[i:i+32]) for i in range(0, len(imgs), 32)])
    print(f"\nonnxruntime fp32 against PyTorch fp32 on all {len(files)} photos: largest probability difference "
          f"{np.abs(p_onnx - p_torch).max():.1e}, top-1 agreement {(p_onnx.argmax(1) == p_torch.argmax(1)).sum()}/{len(files)}")
    held = label_images(holdout)
    print(f"held-out accuracy on {len(held.files)} photos the model never saw:")
    accs = {}
    for name, clf in (('PyTorch fp32', torch32), (f'PyTorch {ours.precision} (pets predict RUN)', ours), ('onnxruntime fp32', onnx32),
                      ('onnxruntime int8 static', onnx8), ('onnxruntime int8 dynamic', onnxdyn)):
        accs[name], _ = accuracy(clf, held.files, held.labels)
        print(f"  {name:40s} {accs[name]:.3f}")

    # one photo at a time, interleaved
    dls = pets_dataloaders(a.data, bs=32, verbose=False)
    learn = pets_learner(dls, ours.arch, precision='fp32', channels_last=False)  # as stock fastai runs on a CPU
    learn.model.load_state_dict(torch32.model.state_dict()); learn.model.eval()
    sample = files[:a.n]
    fns = {'stock learn.predict': lambda f: learn.predict(f), f'pets predict RUN ({ours.precision})': lambda f: predict(ours, [f], bs=1),
           'pets predict model.onnx': lambda f: predict(onnx32, [f], bs=1), 'model.int8.onnx (static)': lambda f: predict(onnx8, [f], bs=1),
           'int8 dynamic': lambda f: predict(onnxdyn, [f], bs=1), 'decode + preprocess': lambda f: onnx32.preprocess(open_image(f))}
    with learn.no_bar():
        interleaved(fns, sample[:3])
        t = interleaved(fns, sample)
    med = {k: statistics.median(v) * 1000 for k, v in t.items()}
    stock = med['stock learn.predict']
    print(f"\nper photo, one at a time (median of {len(sample)}, ms; ratio to learn.predict):")
    for k, v in med.items(): print(f"  {k:34s} {v:7.1f}   {v/stock:.2f}x")
    one_thread = load_onnx(run/'model.onnx', threads=1)
    t1 = interleaved({'1': lambda f: predict(one_thread, [f], bs=1), '2': lambda f: predict(onnx32, [f], bs=1)}, sample)
    print(f"  onnxruntime threads: 1 thread {statistics.median(t1['1'])*1000:.1f} ms, default (one per core) "
          f"{statistics.median(t1['2'])*1000:.1f} ms")

    # batches
    def rate(fn) -> float:
        t = time.perf_counter(); fn(); return len(files) / (time.perf_counter() - t)
    with learn.no_bar(): rates = {'stock get_preds(test_dl)': rate(lambda: learn.get_preds(dl=dls.test_dl(files, bs=32)))}
    for k, clf in ((f'pets predict RUN ({ours.precision})', ours), ('pets predict model.onnx', onnx32), ('model.int8.onnx (static)', onnx8)):
        rates[k] = rate(lambda: predict(clf, files, bs=32))
    print(f"\nbatches of 32, {len(files)} photos (images/s):")
    for k, v in rates.items(): print(f"  {k:34s} {v:7.1f}   {v/rates['stock get_preds(test_dl)']:.2f}x stock")

    # a fresh process from start to its first answer
    photo = str(files[0])
    learn.export(work/'export.pkl')
    stock_cmd = [sys.executable, '-c', f"from fastai.vision.all import load_learner; print(load_learner({str(work/'export.pkl')!r}).predict({photo!r})[0])"]
    starts = {'stock load_learner + predict': startup(stock_cmd), 'pets predict RUN': startup(['pets', 'predict', str(run), photo]),
              'pets predict model.onnx': startup(['pets', 'predict', str(run/'model.onnx'), photo])}
    print("\nstart to first answer, a fresh process (median of 3, s):")
    for k, v in starts.items(): print(f"  {k:34s} {v:6.2f}")

    onnx_ms, torch_ms = med['pets predict model.onnx'], med[f'pets predict RUN ({ours.precision})']
    print(f"\nonnx: pets predict model.onnx {onnx_ms:.1f} ms a photo vs pets predict RUN {torch_ms:.1f} vs learn.predict {stock:.1f} "
          f"({onnx_ms/stock:.2f}x learn.predict; target: ahead of pets predict); start-up {starts['pets predict model.onnx']:.1f} s vs "
          f"{starts['pets predict RUN']:.1f} s vs stock {starts['stock load_learner + predict']:.1f} s")
    print(f"onnx int8 (static): {sizes['int8']:.1f} MB vs {sizes['fp32']:.1f}, {med['model.int8.onnx (static)']:.1f} ms a photo, held-out "
          f"accuracy {accs['onnxruntime int8 static']:.3f} vs fp32 {accs['onnxruntime fp32']:.3f} (target: within noise)")
    print(f"predict: pets predict model.onnx one image {onnx_ms/stock:.2f}x the time of learn.predict's {stock:.1f} ms (target <= 0.4)")

if __name__ == '__main__': main()
