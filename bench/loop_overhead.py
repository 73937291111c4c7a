"""Training-loop overhead: fastai's loop as `pets train` runs it (our callbacks, one-cycle schedule, fastai's Adam)
against a bare PyTorch loop (torch.optim.AdamW) on the same model, weights and batches, measured in the same run.

    python bench/loop_overhead.py --data ../shared/data/pets-real-dev/images

Time per step from the batch in hand to the optimizer step done (data loading excluded on both sides, since the
batches are the same tensors). Steps alternate between the loops, each going first every other step, so machine
drift and cache effects hit both alike. (fastai's default `CastToTensor` callback already hands the model plain
tensors, not its `TensorImage` subclass.)
"""
import argparse, copy, os, random, statistics, tempfile, time, warnings
from pathlib import Path
warnings.filterwarnings('ignore')

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--data', default='../shared/data/pets-real-dev/images')
    ap.add_argument('--arch', default='efficientnet_lite0')
    ap.add_argument('--size', type=int, default=128)
    ap.add_argument('--bs', type=int, default=32)
    ap.add_argument('--epochs', type=int, default=3, help="passes over the training batches (about 9 steps each)")
    a = ap.parse_args()
    os.environ.setdefault('PETS_CACHE', str(Path(tempfile.gettempdir())/'pets-bench-cache'))
    import torch
    from fastai.vision.all import Callback
    from fastai.callback.progress import ProgressCallback
    from pets_classifier.data import pets_dataloaders
    from pets_classifier.learner import pets_learner
    from pets_classifier.train import EpochCSV, EpochCheckpoint

    dls = pets_dataloaders(a.data, size=a.size, bs=a.bs, verbose=False)
    batches = list(dls.train)  # the same tensors for both loops, replayed every epoch
    learn = pets_learner(dls, a.arch, path=Path(tempfile.mkdtemp()), cbs=[EpochCSV(), EpochCheckpoint()])
    learn.remove_cb(ProgressCallback); learn.logger = lambda row: None
    learn.unfreeze()
    bare_model = copy.deepcopy(learn.model).train()
    bare_opt = torch.optim.AdamW(bare_model.parameters(), lr=1e-4, weight_decay=0.01)

    plain = [tuple(t.as_subclass(torch.Tensor) for t in b) for b in batches]  # what a bare loop would hold
    def bare_step(xb, yb, loss_fn=torch.nn.CrossEntropyLoss()):
        loss = loss_fn(bare_model(xb), yb)
        loss.backward(); bare_opt.step(); bare_opt.zero_grad()

    times = dict(fastai=[], bare=[])
    def timed_bare(i):
        t = time.perf_counter(); bare_step(*plain[i]); times['bare'].append(time.perf_counter() - t)
    class Start(Callback):
        "Before every other callback's before_batch: on odd steps the bare step first, then start the clock."
        order = -1000
        def before_batch(self):
            if self.training and self.iter % 2: timed_bare(self.iter)
            times['t0'] = time.perf_counter()
    class Stop(Callback):
        "After every other callback's after_batch: stop the clock; on even steps the bare step after."
        order = 10_000
        def after_batch(self):
            if not self.training: return
            times['fastai'].append(time.perf_counter() - times['t0'])
            if self.iter % 2 == 0: timed_bare(self.iter)
    learn.add_cbs([Start(), Stop()])
    learn.dls.loaders[0] = _ListDL(batches)
    learn.fit_one_cycle(a.epochs, slice(1e-6, 1e-4))
    f, b = times['fastai'][2:], times['bare'][2:]  # first steps warm up
    print(f"{a.arch} at {a.size} px, batch {a.bs}, unfrozen, {len(f)} steps each, torch threads {torch.get_num_threads()}")
    print(f"  bare PyTorch loop (AdamW)            {statistics.median(b)*1000:8.1f} ms/step")
    print(f"  fastai loop as pets train runs it    {statistics.median(f)*1000:8.1f} ms/step")
    print(f"training loop overhead: fastai as pets train runs it {100*(statistics.median(f)/statistics.median(b) - 1):+.1f} % "
          f"per step against the bare loop (target within 5 %)")

class _ListDL:
    "Just enough of a fastai DataLoader to replay a list of batches."
    def __init__(self, batches): self.batches, self.n, self.rng = batches, len(batches), random.Random(0)
    def __iter__(self): return iter(self.batches)
    def __len__(self): return len(self.batches)
    def __getattr__(self, k): raise AttributeError(k)

if __name__ == '__main__': main()
