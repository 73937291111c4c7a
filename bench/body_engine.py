"""The frozen body as an inference engine (issue 33): images/s of stage 1's feature passes (body + pooling, batches of
16 at the run's size) through each candidate path, and how far each path's features are from eager fp32's.

    python bench/body_engine.py --data ../shared/data/pets-real-dev/images
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 python bench/body_engine.py --precision fp32   # an AVX2-only CPU

Paths: eager under `torch.no_grad` (what `head_features` ran before), eager under `torch.inference_mode`, channels-last
or not, the body traced and frozen with TorchScript (batch norms folded into the convolutions), onnxruntime on the
exported body (fp32; it folds the batch norms too), `torch.compile`, and torch's int8 dynamic quantisation (which only
quantises Linear layers: a convolutional body has none). Each path's batches alternate with the others', so load on
the machine hits all alike; one torch thread unless --threads.
"""
import argparse, os, platform, statistics, tempfile, time, warnings
from pathlib import Path
warnings.filterwarnings('ignore')


def cpu_line() -> str:
    "The CPU's model, the ISA torch runs at, and whether it has bf16 units."
    import torch
    from pets_classifier.models import cpu_bf16
    name = next((ln.split(':', 1)[1].strip() for ln in open('/proc/cpuinfo') if ln.startswith('model name')),
                platform.processor()) if Path('/proc/cpuinfo').exists() else platform.processor()
    isa = os.environ.get('ONEDNN_MAX_CPU_ISA', 'native')
    return (f"{name}; torch {torch.__version__} at {torch.backends.cpu.get_cpu_capability()}, oneDNN ISA {isa}; "
            f"bf16 units {'yes' if cpu_bf16() else 'no'}; {torch.get_num_threads()} torch thread(s); "
            f"load {os.getloadavg()[0]:.2f}")


def photos(data:Path, n:int, size:int):
    "`n` real photos, centre-cropped to `size`, normalised as the body expects, channels-last."
    import torch, numpy as np
    from PIL import Image
    files = sorted(data.glob('*.jpg'))[:n]
    def load(f):
        im = Image.open(f).convert('RGB'); s = min(im.size)
        l, t = (im.width - s) // 2, (im.height - s) // 2
        return np.asarray(im.crop((l, t, l + s, t + s)).resize((size, size)), dtype=np.float32) / 255
    x = torch.from_numpy(np.stack([load(f) for f in files])).permute(0, 3, 1, 2)
    mean, std = torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1), torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


def body_and_pool(arch:str, n_out:int=37):
    "fastai's body and pooling of `arch` (the part `head_features` runs), eval mode, channels-last."
    import torch
    from pets_classifier.models import create_model
    model = create_model(arch, n_out).eval()
    net = torch.nn.Sequential(model[0], model[1][:2]).eval()
    return net.to(memory_format=torch.channels_last)


def paths(net, example, precision:str, want:list) -> dict:
    "name -> (a function batch -> features, seconds it took to prepare)."
    import torch
    from pets_classifier.models import precision_autocast
    auto = lambda: precision_autocast('cpu', precision)
    out = {}
    def add(name, make):
        if want and name not in want: return
        t = time.perf_counter()
        try: fn = make()
        except Exception as e: print(f"  {name}: failed ({type(e).__name__}: {str(e).splitlines()[0][:120]})"); return
        out[name] = (fn, time.perf_counter() - t)
    def eager_no_grad():
        def run(x):
            with torch.no_grad(), auto(): return net(x).float()
        return run
    def eager_inference():
        def run(x):
            with torch.inference_mode(), auto(): return net(x).float()
        return run
    def contiguous():
        flat = __import__('copy').deepcopy(net).to(memory_format=torch.contiguous_format)
        def run(x):
            with torch.inference_mode(), auto(): return flat(x.contiguous()).float()
        return run
    def jit_frozen():
        with torch.no_grad(), auto():
            traced = torch.jit.freeze(torch.jit.trace(net, example, check_trace=False))
            for _ in range(2): traced(example)  # the profiling runs
        def run(x):
            with torch.no_grad(), auto(): return traced(x).float()
        return run
    def compiled():
        c = torch.compile(net)
        with torch.inference_mode(), auto(): c(example); c(example[:example.shape[0] // 2 or 1])
        def run(x):
            with torch.inference_mode(), auto(): return c(x).float()
        return run
    def onnxrt():
        import onnxruntime as ort
        f = Path(tempfile.mkdtemp())/'body.onnx'
        flat = __import__('copy').deepcopy(net).to(memory_format=torch.contiguous_format)
        with warnings.catch_warnings(): torch.onnx.export(flat, (example.contiguous(),), str(f), input_names=['x'],
                                                          output_names=['f'], opset_version=18, dynamo=False,
                                                          dynamic_axes={'x': {0: 'b'}})
        so = ort.SessionOptions(); so.intra_op_num_threads = torch.get_num_threads()
        sess = ort.InferenceSession(str(f), so, providers=['CPUExecutionProvider'])
        return lambda x: torch.from_numpy(sess.run(None, {'x': x.contiguous().numpy()})[0])
    def int8_dynamic():
        q = torch.ao.quantization.quantize_dynamic(__import__('copy').deepcopy(net), {torch.nn.Linear}, torch.qint8)
        def run(x):
            with torch.inference_mode(), auto(): return q(x).float()
        return run
    for name, make in [('eager no_grad (before)', eager_no_grad), ('eager inference_mode', eager_inference),
                       ('eager, not channels-last', contiguous), ('TorchScript trace+freeze', jit_frozen),
                       ('onnxruntime fp32', onnxrt), ('torch.compile', compiled), ('int8 dynamic (Linear)', int8_dynamic)]:
        add(name, make)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--data', default='../shared/data/pets-real-dev/images')
    ap.add_argument('--arch', default='efficientnet_lite2'); ap.add_argument('--size', type=int, default=260)
    ap.add_argument('--precision', default='auto', help="auto (bf16 with bf16 units), fp32 or bf16")
    ap.add_argument('--bs', type=int, default=16); ap.add_argument('--batches', type=int, default=6)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--paths', nargs='*', default=[], help="names of the paths to run (default: all)")
    a = ap.parse_args()
    import torch
    torch.set_num_threads(a.threads)
    from pets_classifier.models import resolve_precision
    precision = resolve_precision(a.precision, 'cpu')[0]
    print(cpu_line()); print(f"{a.arch} body + pooling at {a.size} px, batches of {a.bs}, {precision}")
    x = photos(Path(a.data), a.bs * 2, a.size)
    net = body_and_pool(a.arch)
    ways = paths(net, x[:a.bs], precision, a.paths)
    ref = ways[next(iter(ways))][0](x[:a.bs]) if ways else None
    with torch.no_grad(): ref32 = net(x[:a.bs]).float()
    times = {k: [] for k in ways}
    for i in range(a.batches + 1):  # the first round warms up, not timed
        for name, (fn, _) in ways.items():
            b = x[(i % 2) * a.bs:(i % 2 + 1) * a.bs]
            t = time.perf_counter(); fn(b); dt = time.perf_counter() - t
            if i: times[name].append(dt)
    base = statistics.median(times[next(iter(times))])
    print(f"{'path':28} {'images/s':>9} {'x before':>9} {'prepare s':>9}  features vs eager fp32 (max rel. diff, cos)")
    for name, (fn, prep) in ways.items():
        med = statistics.median(times[name]); f = fn(x[:a.bs]).float()
        rel = float((f - ref32).abs().max() / ref32.abs().max())
        cos = float(torch.nn.functional.cosine_similarity(f, ref32).min())
        print(f"{name:28} {a.bs / med:9.1f} {base / med:9.2f}x {prep:9.1f}  {rel:.2e}  {cos:.6f}")
    print(f"load after: {os.getloadavg()[0]:.2f}")
    del ref


if __name__ == '__main__': main()
