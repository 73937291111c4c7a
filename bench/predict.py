"""Prediction latency and throughput: `pets predict` (our `predict.predict`) against stock fastai `learn.predict`,
measured in the same run, on the same photos and the same weights.

    python bench/predict.py --data ../shared/data/pets-real-dev/images

Prints per-image latency (one image at a time) for stock `learn.predict` (fastai on a CPU: fp32, default memory
format), our predict with batch size 1 in the precision `auto` picks (bf16 on a CPU with bfloat16 units) and in
fp32, and a bare torch forward pass on an already-preprocessed tensor, then throughput in images/s with batches,
and how often the bf16 and fp32 top classes agree (give `--model` a trained run for a meaningful figure).
"""
import argparse, os, statistics, tempfile, time, warnings
from pathlib import Path
warnings.filterwarnings('ignore')

def interleaved(fns:dict, items) -> dict:
    "Seconds per call of each function on each item, calling them in turn on an item so drift hits all alike."
    times = {k: [] for k in fns}
    for it in items:
        for k, fn in fns.items():
            t = time.perf_counter(); fn(it); times[k].append(time.perf_counter() - t)
    return times

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--data', default='../shared/data/pets-real-dev/images', help="folder of <breed>_<n>.jpg photos")
    ap.add_argument('--arch', default='efficientnet_lite0')
    ap.add_argument('--model', help="a run folder from `pets train` on --data: time its trained weights (default: untrained head)")
    ap.add_argument('--n', type=int, default=48, help="images timed one by one")
    ap.add_argument('--bs', type=int, default=32, help="batch size for the throughput figure")
    a = ap.parse_args()
    os.environ.setdefault('PETS_CACHE', str(Path(tempfile.gettempdir())/'pets-bench-cache'))
    import torch
    from fastai.vision.all import get_image_files
    from pets_classifier.data import pets_dataloaders
    from pets_classifier.learner import pets_learner
    from pets_classifier.inference import save_model, load_model
    from pets_classifier.predict import predict, open_image

    files = sorted(get_image_files(a.data))
    for f in files: f.read_bytes()  # page cache warm for every contender
    dls = pets_dataloaders(a.data, bs=a.bs, verbose=False)
    trained = load_model(a.model) if a.model else None
    learn = pets_learner(dls, trained.arch if trained else a.arch, precision='fp32', channels_last=False)  # as stock fastai runs
    if trained: learn.model.load_state_dict(load_model(a.model, precision='fp32').model.state_dict())  # the same weights in both, fp32
    model_dir = Path(tempfile.mkdtemp())
    save_model(learn, model_dir)
    clf, clf32 = load_model(model_dir), load_model(model_dir, precision='fp32')
    sample = files[:a.n]
    print(f"{len(sample)} photos from {a.data}, {clf.arch} in {clf.precision} (auto), {'trained: ' + a.model if a.model else 'untrained head'}), torch threads {torch.get_num_threads()}, CPU" + (" + GPU" if torch.cuda.is_available() else ""))

    learn.model.eval()
    x = {f: clf.preprocess(open_image(f)).unsqueeze(0) for f in sample}
    def bare(f):
        with torch.inference_mode(): learn.model(x[f])
    fns = dict(stock=lambda f: learn.predict(f), ours=lambda f: predict(clf, [f], bs=1), ours32=lambda f: predict(clf32, [f], bs=1), bare=bare,
               decode=lambda f: clf.preprocess(open_image(f)))
    with learn.no_bar():
        interleaved(fns, sample[:3])  # warm-up
        t = interleaved(fns, sample)
        stock_top = [learn.predict(f)[0] for f in sample]
    ours_top = [r['top'][0][0] for r in predict(clf, sample, top_k=1, bs=a.bs)]
    stock, ours, ours32, bare, decode = t['stock'], t['ours'], t['ours32'], t['bare'], t['decode']

    t = time.perf_counter(); predict(clf, files, bs=a.bs); ours_batched = len(files) / (time.perf_counter() - t)
    t = time.perf_counter()
    with learn.no_bar(): learn.get_preds(dl=dls.test_dl(files, bs=a.bs))
    stock_batched = len(files) / (time.perf_counter() - t)

    ms = lambda v: f"{1000*statistics.median(v):7.1f} ms"
    print(f"\nper image, one at a time (median of {len(sample)}):")
    print(f"  stock fastai learn.predict        {ms(stock)}")
    print(f"  pets predict, batch of 1, {clf.precision}    {ms(ours)}   {statistics.median(stock)/statistics.median(ours):.2f}x faster than stock")
    print(f"  pets predict, batch of 1, fp32    {ms(ours32)}   {statistics.median(stock)/statistics.median(ours32):.2f}x faster than stock")
    print(f"    of which decode + preprocess    {ms(decode)}")
    print(f"  plain torch forward, stock model  {ms(bare)}   (tensor already made; ours runs channels-last)")
    print(f"  ours / (decode + plain forward)   {statistics.median(ours)/(statistics.median(bare)+statistics.median(decode)):.2f}")
    print(f"\nthroughput, batches of {a.bs}, {len(files)} photos:")
    print(f"  stock fastai get_preds(test_dl)   {stock_batched:7.1f} images/s")
    print(f"  pets predict                      {ours_batched:7.1f} images/s   {ours_batched/stock_batched:.2f}x stock")
    agree = sum(a_ == b_ for a_, b_ in zip(stock_top, ours_top))
    print(f"\ntop-1 agreement with learn.predict: {agree}/{len(sample)}")
    tops = [[r['top'][0][0] for r in predict(c, files, top_k=1, bs=a.bs)] for c in (clf, clf32)]
    same = sum(a_ == b_ for a_, b_ in zip(*tops))
    print(f"top-1 agreement of {clf.precision} with fp32 on all {len(files)} photos: {same/len(files):.1%}")
    print(f"predict: pets predict one image {ms(ours).strip()}, {statistics.median(ours)/statistics.median(stock):.2f}x the time "
          f"of learn.predict's {ms(stock).strip()} (target <= 0.4)")

if __name__ == '__main__': main()
