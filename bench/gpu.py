"""GPU path: training images/s of resnet34 the stock fastai way and the pets_classifier way, and the peak GPU memory of
resnet50 at 224 px with mixed precision and gradient accumulation, on the same photos.

    python bench/gpu.py --data ../shared/data/pets-real-dev/images

Stock: the lesson's pipeline (`Resize(460)` per item, `aug_transforms(size=224, min_scale=0.75)` on the GPU), fp32.
Ours: `pets_block` + `pets_learner` defaults on a GPU: crop per item, the rest of the augmentation on the GPU,
bf16 (fp16 where the GPU lacks bf16) mixed precision, channels-last. Both unfrozen, random weights (no download;
speed and memory do not depend on the weights). Without a GPU it says so and stops, unless --device cpu is given
(a quick check that the code paths run; no memory figures).
"""
import argparse, time, warnings
warnings.filterwarnings('ignore')

def epoch_images_per_s(learn, epochs:int) -> float:
    "Training images per second over `epochs` epochs after one warm-up epoch (loading, augmentation and steps)."
    import torch
    learn.fit(1, 1e-4)
    if torch.cuda.is_available(): torch.cuda.synchronize()
    t = time.perf_counter(); learn.fit(epochs, 1e-4)
    if torch.cuda.is_available(): torch.cuda.synchronize()
    return epochs * len(learn.dls.train) * learn.dls.train.bs / (time.perf_counter() - t)

def peak_gib(learn) -> float:
    "Peak GPU memory (GiB) of one training epoch of `learn`; nan on the CPU."
    import torch
    if not torch.cuda.is_available(): learn.fit(1, 1e-4); return float('nan')
    torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
    learn.fit(1, 1e-4)
    return torch.cuda.max_memory_allocated() / 2**30

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--data', default='../shared/data/pets-real-dev/images')
    ap.add_argument('--device', default='cuda')
    ap.add_argument('--size', type=int, default=224)
    ap.add_argument('--bs', type=int, default=64)
    ap.add_argument('--epochs', type=int, default=3)
    a = ap.parse_args()
    import torch
    if a.device.startswith('cuda') and not torch.cuda.is_available():
        print("GPU path: no CUDA device here, nothing measured (pass --device cpu to check that the code paths run)"); return
    from fastai.vision.all import vision_learner, accuracy, resnet34
    from fastai.callback.progress import ProgressCallback
    from pets_classifier.data import label_images, pets_block, default_workers
    from pets_classifier.learner import pets_learner
    quiet = lambda learn: (learn.remove_cb(ProgressCallback), setattr(learn, 'logger', lambda row: None), learn.unfreeze(), learn)[-1]
    imgs, workers = label_images(a.data), default_workers()
    loaders = lambda bs, presize=None: pets_block(imgs.labeller, size=a.size, presize=presize).dataloaders(  # presize: the lesson's
        imgs.files, bs=bs, num_workers=workers, device=a.device)
    stock, dls = loaders(a.bs, presize=round(a.size * 460 / 224)), loaders(a.bs)
    name = torch.cuda.get_device_name() if torch.cuda.is_available() else 'CPU'
    print(f"{name}, {len(dls.train_ds)} training photos, {a.size} px, batch {a.bs}, {workers} loader processes")
    s = epoch_images_per_s(quiet(vision_learner(stock, resnet34, pretrained=False, metrics=accuracy)), a.epochs)
    ours = quiet(pets_learner(dls, 'resnet34', pretrained=False))
    o = epoch_images_per_s(ours, a.epochs)
    print(f"  resnet34 training, stock fastai (fp32)              {s:7.0f} images/s")
    layout = 'channels-last' if any(type(cb).__name__ == 'ChannelsLast' for cb in ours.cbs) else 'contiguous'
    print(f"  resnet34 training, ours ({ours.run_state.precision}, {layout})  {o:7.0f} images/s   {o/s:.1f}x")
    for precision, accumulate in (('fp32', 1), ('auto', 1), ('auto', 2)):
        micro = loaders(a.bs // accumulate)
        learn = quiet(pets_learner(micro, 'resnet50', pretrained=False, precision=precision, accumulate=accumulate))
        gib = peak_gib(learn)
        print(f"  resnet50 at {a.size} px, {a.bs} images a step as {accumulate} x {a.bs // accumulate}, {learn.run_state.precision}: peak {gib:5.2f} GiB (target <= 6)")
        del learn, micro
        if torch.cuda.is_available(): torch.cuda.empty_cache()

if __name__ == '__main__': main()
