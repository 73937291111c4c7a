"""Input pipeline: images/s of `pets_block`'s default pipeline against stock fastai's presizing pipeline, on the same photos.

    python bench/pipeline.py --data ../shared/data/pets-real-dev/images

Stock (the lesson): `Resize(460)` on each item, then `aug_transforms(size=224, min_scale=0.75)` and `Normalize` on the
batch. Ours (`pets_block`): fastai's `RandomResizedCrop(224, min_scale=0.75)` on each item, then the rest of
`aug_transforms` and `Normalize` on the 224-pixel batch. Both decode, crop/resize, augment, collate and normalise
every training image; passes alternate between the two so machine drift hits both alike. Also printed: how each
scales with loader processes, and the floor, JPEG decoding alone.
"""
import argparse, os, statistics, time, warnings
warnings.filterwarnings('ignore')

def images_per_s(dl, passes:int) -> list:
    "Images per second of each full pass over `dl` (batches made and normalised, as training receives them)."
    rates = []
    for _ in range(passes):
        t, n = time.perf_counter(), 0
        for xb, yb in dl: n += len(xb)
        rates.append(n / (time.perf_counter() - t))
    return rates

def decode_per_s(files:list) -> float:
    "Images per second PIL decodes to RGB on one core: the floor of any pipeline that decodes every epoch."
    from PIL import Image
    t = time.perf_counter()
    for f in files:
        with Image.open(f) as im: im.convert('RGB')
    return len(files) / (time.perf_counter() - t)

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--data', default='../shared/data/pets-real-dev/images')
    ap.add_argument('--size', type=int, default=224)
    ap.add_argument('--bs', type=int, default=32)
    ap.add_argument('--passes', type=int, default=3, help="passes over the training images per pipeline and worker count")
    ap.add_argument('--workers', default='0,1,2', help="loader processes to try, comma-separated")
    a = ap.parse_args()
    import torch
    from pets_classifier.data import label_images, pets_block
    imgs = label_images(a.data)
    stock = pets_block(imgs.labeller, size=a.size, presize=round(a.size * 460 / 224))  # with presize: the lesson's DataBlock
    ours = pets_block(imgs.labeller, size=a.size)
    n_train = len(stock.datasets(imgs.files).train)
    print(f"{n_train} training photos from {a.data}, {a.size} px, batch {a.bs}, {os.cpu_count()} CPU cores, torch threads {torch.get_num_threads()}")
    floor = statistics.median(decode_per_s(imgs.files) for _ in range(3))
    print(f"  JPEG decode alone (PIL, one core)      {floor:7.0f} images/s   ({1000/floor:.2f} ms/image)")
    rows = []
    for w in map(int, a.workers.split(',')):
        dls = {name: block.dataloaders(imgs.files, bs=a.bs, num_workers=w, device='cpu') for name, block in (('stock', stock), ('ours', ours))}
        rates = {name: [] for name in dls}
        for _ in range(a.passes):  # alternate, one pass each
            for name, d in dls.items(): rates[name] += images_per_s(d.train, 1)
        rows.append((w, statistics.median(rates['stock']), statistics.median(rates['ours'])))
        print(f"  {w} loader processes: stock fastai {rows[-1][1]:6.0f} images/s   ours {rows[-1][2]:6.0f} images/s   {rows[-1][2]/rows[-1][1]:4.1f}x")
    (ws, s_best, _), (wo, _, o_best) = max(rows, key=lambda r: r[1]), max(rows, key=lambda r: r[2])
    print(f"input pipeline, each at its best: ours {o_best:.0f} images/s ({wo} processes), stock fastai {s_best:.0f} "
          f"({ws} processes): {o_best/s_best:.1f}x (target 4x)")

if __name__ == '__main__': main()
