"""Training memory of a model, counted on the CPU: a lower bound of what one training step needs on a GPU.

    python bench/memory.py --arch resnet50 --size 224 --bs 64 --accumulate 2

No GPU needed: the forward pass runs on the CPU under autocast (bfloat16 stands in for the GPU's fp16/bf16; both are
2 bytes) and `torch.autograd.graph.saved_tensors_hooks` counts every tensor autograd keeps for the backward pass
(each storage once). Added to it: the weights, their gradients and Adam's two moments (fp32), and the
largest single activation once more for the backward pass's working copies. The real peak on a GPU is higher, by
the backward pass's other transient gradients, cuDNN workspaces, allocator slack and the CUDA context, by how much
is not measured here: `bench/gpu.py` measures the real peak where there is a GPU.
"""
import argparse, warnings
warnings.filterwarnings('ignore')

def saved_bytes(model, x, amp:bool) -> tuple:
    "(bytes autograd saves for backward, largest single saved tensor) in one forward pass of `model` on `x`."
    import torch
    seen, largest = {}, [0]
    def pack(t):
        key = (t.untyped_storage().data_ptr(), t.dtype)
        if key not in seen: seen[key] = t.untyped_storage().nbytes(); largest[0] = max(largest[0], seen[key])
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), torch.autocast('cpu', dtype=torch.bfloat16, enabled=amp):
        model(x)
    return sum(seen.values()), largest[0]

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--arch', default='resnet50')
    ap.add_argument('--size', type=int, default=224)
    ap.add_argument('--bs', type=int, default=64, help="images per optimizer step")
    ap.add_argument('--accumulate', type=int, default=2, help="batches the step is split into (--accumulate in pets train)")
    ap.add_argument('--classes', type=int, default=37)
    a = ap.parse_args()
    import torch
    from pets_classifier.models import create_model
    model = create_model(a.arch, a.classes, pretrained=False).train()
    params = sum(p.numel() for p in model.parameters()) * 4  # fp32 weights
    fixed = params * 4  # weights, gradients, Adam's two moments
    gib = lambda b: b / 2**30
    print(f"{a.arch} at {a.size} px, {a.bs} images a step; weights {gib(params):.2f} GiB, with gradients and Adam state {gib(fixed):.2f} GiB")
    for amp, acc in ((False, 1), (True, 1), (True, a.accumulate)):
        micro = a.bs // acc
        act, largest = saved_bytes(model, torch.randn(micro, 3, a.size, a.size), amp)
        total = fixed + act + largest
        print(f"  {'mixed precision' if amp else 'fp32':15}  {acc} x {micro:3} images: activations kept {gib(act):5.2f} GiB, "
              f"at least {gib(total):5.2f} GiB at the peak (target <= 6 GiB on a GPU)")

if __name__ == '__main__': main()
