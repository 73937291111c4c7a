"""Is the class activation map right? Pointing share on real photos, the randomisation check, and the cost.

    python bench/cam.py --model RUN --data ../shared/data/pets-real-dev/images --trimaps ANNOTATIONS/trimaps

- Pointing share (the "pointing game"): the share of photos whose map peaks on the animal, by the ground truth of
  Oxford-IIIT Pet (Parkhi et al. 2012): its trimaps (`annotations/trimaps/<name>.png`: 1 animal, 2 background,
  3 border; the border counts as the animal) or its head boxes (`annotations/xmls/<name>.xml`, `--xmls`: the peak
  inside the head box). Against a map that always peaks at the photo's centre, on the same photos. The annotations
  are not in this repository: pass the folders. CAM (the body's output) and Grad-CAM at the body's output.
- Randomisation check (Adebayo et al. 2018, "Sanity checks for saliency maps"): the head's weights re-drawn at
  random (as fastai initialises them), the maps again for the same photos and classes. A map that explains the model
  must change: the Spearman rank correlation between the two maps of each photo (1: unchanged), and the share of
  photos whose peak moved to another cell.
- Cost: time per photo of the library's `predict` one photo at a time, with and without `write_cams` (what
  `pets predict --cam` adds: a second forward pass with a hook, the map, the PNG), interleaved, medians; then the
  whole command over every photo, with and without `--cam`.
- With `--onnx`: the run exported (`export_run`, fp32 and static int8, into a temporary folder), the ONNX graph's
  `cam` output against PyTorch's `class_activation_map` in fp32 on every photo, for PyTorch's top class (largest
  difference over the map's range, share of the same peak), and the whole `pets predict model.onnx` with and without
  `--cam`.
"""
import argparse, atexit, copy, os, shutil, statistics, subprocess, sys, tempfile, time, warnings
import xml.etree.ElementTree as ET
from pathlib import Path
warnings.filterwarnings('ignore')

def on_animal_trimap(trimap:Path, xy:list) -> bool:
    "Is pixel `xy` of the photo on the animal (or its border) in its Oxford trimap?"
    from PIL import Image
    return Image.open(trimap).getpixel(tuple(xy)) in (1, 3)

def on_head_box(xml:Path, xy:list) -> bool:
    "Is pixel `xy` inside one of the head boxes of the Oxford annotation `xml`?"
    for box in ET.parse(xml).getroot().iter('bndbox'):
        x0, y0, x1, y1 = (int(float(box.find(k).text)) for k in ('xmin', 'ymin', 'xmax', 'ymax'))
        if x0 <= xy[0] <= x1 and y0 <= xy[1] <= y1: return True
    return False

def ground_truth(files:list, trimaps:str|None, xmls:str|None) -> dict:
    "For each photo with an annotation: a function of a pixel saying whether it is on the animal; and what it is."
    truth = {}
    for f in files:
        if trimaps and (t := Path(trimaps)/f'{f.stem}.png').is_file(): truth[f] = lambda xy, t=t: on_animal_trimap(t, xy)
        elif xmls and (x := Path(xmls)/f'{f.stem}.xml').is_file(): truth[f] = lambda xy, x=x: on_head_box(x, xy)
    return truth

def spearman(a, b) -> float:
    "Spearman's rank correlation of two maps of the same shape."
    import numpy as np
    ra, rb = (np.argsort(np.argsort(m.ravel())).astype(float) for m in (a, b))
    return float(np.corrcoef(ra, rb)[0, 1]) if ra.std() and rb.std() else 0.

def randomised_head(model):
    "A copy of `model` whose head's layers are re-initialised (kaiming for linear layers, as fastai's head starts)."
    import torch
    from fastai.torch_core import apply_init
    from fastai.callback.training import bn_types
    rnd = copy.deepcopy(model)
    torch.manual_seed(0)
    apply_init(rnd[1], torch.nn.init.kaiming_normal_)
    for m in rnd[1].modules():
        if isinstance(m, bn_types): m.reset_running_stats(); m.reset_parameters()
    return rnd

def maps_of(clf, images:list, method:str, classes=None) -> list:
    "The raw maps (cells) and the classes they are of, per photo, by `photo_cams`' rule."
    import torch
    from pets_classifier.cam import class_activation_map, grad_cam
    x = torch.stack([clf.preprocess(o) for o in images])
    with clf.autocast():
        maps, cls = (class_activation_map if method == 'cam' else grad_cam)(clf.model, x, classes)
    return maps.float().numpy(), cls

def pointing(clf, files:list, truth:dict, bs:int=16) -> dict:
    "Pointing share of CAM, Grad-CAM and the centre on the photos with ground truth."
    from pets_classifier.predict import open_image
    from pets_classifier.cam import photo_cams
    hits = dict(cam=0, gradcam=0, centre=0)
    annotated = [f for f in files if f in truth]
    for i in range(0, len(annotated), bs):
        batch = annotated[i:i+bs]
        imgs = [open_image(f) for f in batch]
        for method in ('cam', 'gradcam'):
            for f, c in zip(batch, photo_cams(clf, imgs, method=method)): hits[method] += truth[f](c['peak'])
        for f, img in zip(batch, imgs): hits['centre'] += truth[f]([img.width // 2, img.height // 2])
    return dict(n=len(annotated), **{k: v / max(1, len(annotated)) for k, v in hits.items()})

def randomisation(clf, files:list, bs:int=16) -> dict:
    "Rank correlation of each photo's map before and after the head is re-drawn, and how often the peak moves."
    import numpy as np
    from pets_classifier.predict import open_image
    rnd = copy.copy(clf); rnd.model = randomised_head(clf.model)
    res = {}
    for method in ('cam', 'gradcam'):
        rhos, moved = [], []
        for i in range(0, len(files), bs):
            imgs = [open_image(f) for f in files[i:i+bs]]
            a, cls = maps_of(clf, imgs, method)
            b, _ = maps_of(rnd, imgs, method, cls)  # the same classes: only the weights differ
            rhos += [spearman(x, y) for x, y in zip(a, b)]
            moved += [x.argmax() != y.argmax() for x, y in zip(a, b)]
        res[method] = dict(rho=float(np.median(rhos)), rho_mean=float(np.mean(rhos)), moved=float(np.mean(moved)))
    # the model against itself, as a check of the check: rho 1, nothing moves
    a, cls = maps_of(clf, [open_image(f) for f in files[:8]], 'cam')
    b, _ = maps_of(clf, [open_image(f) for f in files[:8]], 'cam', cls)
    res['same_model_rho'] = min(spearman(x, y) for x, y in zip(a, b))
    return res

def cost(clf, files:list, out:Path) -> dict:
    "Median seconds a photo, one at a time: `predict`, and `predict` then `write_cams`, interleaved."
    from pets_classifier.predict import predict
    from pets_classifier.cam import write_cams
    fns = dict(plain=lambda f: predict(clf, [f], bs=1), cam=lambda f: write_cams(clf, predict(clf, [f], bs=1), out))
    times = {k: [] for k in fns}
    for f in files[:3]:
        for fn in fns.values(): fn(f)  # warm-up
    for f in files:
        for k, fn in fns.items():
            t = time.perf_counter(); fn(f); times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}

def command_cost(model:str, data:str, out:Path, threads:int) -> dict:
    "Wall seconds of the whole `pets predict MODEL DATA --json`, without and with `--cam`, each in a fresh process."
    env = {**os.environ, 'OMP_NUM_THREADS': str(threads)}
    pets = str(Path(sys.executable).parent/'pets')
    res = {}
    for name, extra in (('plain', []), ('cam', ['--cam', str(out)])):
        t = time.perf_counter()
        subprocess.run([pets, 'predict', model, data, '--json', '--quiet', *extra], env=env, check=True,
                       capture_output=True)
        res[name] = time.perf_counter() - t
    return res

def onnx_agreement(model:str, files:list, out:Path, bs:int=16) -> dict:
    "Export the run (fp32, int8) into `out`; for each, its `cam` output against PyTorch's CAM (fp32) on `files`."
    import numpy as np
    from pets_classifier.export import export_run
    from pets_classifier.inference import load_model
    from pets_classifier.predict import load_onnx, open_image, photo_map
    res = export_run(model, out/'model.onnx', int8='static')
    clf, res = load_model(model, precision='fp32'), dict(onnx=res['onnx'], int8=res['int8']['onnx'])
    gaps, peaks = {k: [] for k in res}, {k: [] for k in res}
    for i in range(0, len(files), bs):
        imgs = [open_image(f) for f in files[i:i+bs]]
        a, cls = maps_of(clf, imgs, 'cam')
        cls = cls.numpy()
        for k, f in res.items():
            b = load_onnx(f).class_maps(imgs)[np.arange(len(imgs)), cls]
            gaps[k] += [float(np.abs(x - y).max() / max(np.ptp(x), 1e-12)) for x, y in zip(a, b)]
            peaks[k] += [photo_map(x, img, clf.size, clf.resize, clf.val_xtra)[2] ==
                         photo_map(y, img, clf.size, clf.resize, clf.val_xtra)[2] for x, y, img in zip(a, b, imgs)]
    return {k: dict(file=f, gap=max(gaps[k]), gap_median=float(np.median(gaps[k])), same_peak=float(np.mean(peaks[k])))
            for k, f in res.items()}

def onnx_output_cost(onnx_file:str, files:list, out:Path, threads:int) -> dict:
    "Median seconds a photo of `logits` (what plain `pets predict` asks), the file as exported against it without `cam`."
    import onnx
    from pets_classifier.predict import load_onnx, open_image
    old = onnx.load(onnx_file)
    del old.graph.output[2]  # as `pets export` wrote it before issue 36
    onnx.save(old, out/'nocam.onnx')
    clfs = dict(cam=load_onnx(onnx_file, threads=threads), nocam=load_onnx(out/'nocam.onnx', threads=threads))
    imgs, times = [open_image(f) for f in files], {k: [] for k in clfs}
    for img in imgs[:3]:
        for c in clfs.values(): c.logits([img])  # warm-up
    for img in imgs:
        for k, c in clfs.items():
            t = time.perf_counter(); c.logits([img]); times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}

def cpu() -> str:
    "The CPU's model name and whether it has AVX-512 BF16 / AMX (bf16 fast) or AVX2 only."
    info = Path('/proc/cpuinfo').read_text() if Path('/proc/cpuinfo').exists() else ''
    name = next((l.split(':', 1)[1].strip() for l in info.splitlines() if l.startswith('model name')), 'unknown CPU')
    flags = set(next((l.split(':', 1)[1].split() for l in info.splitlines() if l.startswith('flags')), []))
    return f"{name} ({', '.join(f for f in ('avx2', 'avx512_bf16', 'amx_bf16') if f in flags) or 'no avx2'})"

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--model', required=True, help="a run folder from `pets train`")
    ap.add_argument('--data', default='../shared/data/pets-real-dev/images', help="folder of Oxford-named photos")
    ap.add_argument('--trimaps', help="Oxford-IIIT Pet's annotations/trimaps folder (<name>.png)")
    ap.add_argument('--xmls', help="Oxford-IIIT Pet's annotations/xmls folder (<name>.xml: head boxes)")
    ap.add_argument('--n-cost', type=int, default=48, help="photos timed one at a time")
    ap.add_argument('--threads', type=int, default=1, help="torch threads (one: steady figures on a shared machine)")
    ap.add_argument('--precision', default='auto')
    ap.add_argument('--onnx', action='store_true', help="also the ONNX file's maps and `pets predict model.onnx --cam`")
    a = ap.parse_args()
    import torch
    torch.set_num_threads(a.threads)
    from pets_classifier.inference import load_model
    from pets_classifier.predict import image_files
    clf = load_model(a.model, precision=a.precision)
    files = image_files([a.data])
    print(f"{len(files)} photos from {a.data}; {clf.arch} at {clf.size} px in {clf.precision}, torch threads "
          f"{torch.get_num_threads()}; {cpu()}")
    truth = ground_truth(files, a.trimaps, a.xmls)
    if truth:
        p = pointing(clf, files, truth)
        print(f"pointing share on {p['n']} annotated photos (peak on the animal): CAM {p['cam']:.3f}, "
              f"Grad-CAM {p['gradcam']:.3f}, centre baseline {p['centre']:.3f}")
    else: print("pointing share: no annotation for any of these photos (give --trimaps or --xmls): not measured")
    r = randomisation(clf, files)
    for m in ('cam', 'gradcam'):
        print(f"randomised head, {m}: rank correlation with the trained model's map median {r[m]['rho']:.3f} "
              f"(mean {r[m]['rho_mean']:.3f}), peak moved on {r[m]['moved']:.1%} of {len(files)} photos")
    print(f"  check of the check, the trained model against itself: rank correlation at least {r['same_model_rho']:.3f}")
    out = Path(tempfile.mkdtemp())
    atexit.register(shutil.rmtree, out, True)  # the PNGs and ONNX files: gone at the end
    c = cost(clf, files[:a.n_cost], out/'lib')
    print(f"per photo, one at a time (median of {min(a.n_cost, len(files))}): predict {c['plain'] * 1e3:.1f} ms, "
          f"predict + CAM PNG {c['cam'] * 1e3:.1f} ms ({c['cam'] / c['plain']:.2f}x)")
    w = command_cost(a.model, a.data, out/'cmd', a.threads)
    print(f"whole command on {len(files)} photos, fresh process: pets predict {w['plain']:.1f} s, with --cam "
          f"{w['cam']:.1f} s ({(w['cam'] - w['plain']) / len(files) * 1e3:.1f} ms more a photo)")
    if not a.onnx: return
    (out/'onnx').mkdir()
    for k, r in onnx_agreement(a.model, files, out/'onnx').items():
        print(f"{k}: its cam output against PyTorch's CAM (fp32) on {len(files)} photos: largest difference "
              f"{r['gap']:.2g} of the map's range (median {r['gap_median']:.2g}), the same peak on {r['same_peak']:.1%}")
        w = command_cost(r['file'], a.data, out/f'cmd-{k}', a.threads)
        print(f"  whole command, fresh process: pets predict {Path(r['file']).name} {w['plain']:.1f} s, with --cam "
              f"{w['cam']:.1f} s ({(w['cam'] - w['plain']) / len(files) * 1e3:.1f} ms more a photo)")
        o = onnx_output_cost(r['file'], files[:a.n_cost], out/'onnx', a.threads)
        print(f"  logits alone, one photo at a time (median of {min(a.n_cost, len(files))}): {o['cam'] * 1e3:.1f} ms "
              f"with the cam output in the graph, {o['nocam'] * 1e3:.1f} ms without it")

if __name__ == '__main__': main()
