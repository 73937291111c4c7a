"""Calibration and "unknown" on real photos: ECE before and after the temperature, and each unknown rule on held-out
pet photos and on photos of other things, beside the uncalibrated top probability of a model without them.

    python bench/unknown.py --data ../shared/data/pets-real-dev/images                 # trains first (~90 s)
    python bench/unknown.py --data ../shared/data/pets-real-dev/images --model RUN --holdout DIR

Without `--model`, every fifth photo of each breed is held out (as bench/accuracy.py does) and `pets train --arch
efficientnet_lite0` trains on the rest, calibrating on its validation set. Photos of other things: `make_non_pets`
(scikit-image's and matplotlib's sample photos without cats, crops, blends, noise, flat colours). Every threshold is
the one chosen on the run's validation set (5% of its correctly classified photos below it); the uncalibrated
top probability ("today") gets its threshold the same way, from the same photos.
"""
import argparse, os, sys, tempfile, warnings
from pathlib import Path
warnings.filterwarnings('ignore')
sys.path.insert(0, str(Path(__file__).parent))

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--data', default='../shared/data/pets-real-dev/images', help="folder of <breed>_<n>.jpg photos")
    ap.add_argument('--model', help="a run folder from `pets train` (default: train one on 4/5 of --data)")
    ap.add_argument('--holdout', help="photos --model never saw (with --model)")
    a = ap.parse_args()
    os.environ.setdefault('PETS_CACHE', str(Path(tempfile.gettempdir())/'pets-bench-cache'))
    work = Path(tempfile.mkdtemp())
    if a.model: run, holdout = Path(a.model), Path(a.holdout)
    else:
        from onnx_export import trained_model
        run, holdout = trained_model(Path(a.data), work)

    import numpy as np
    from scipy.special import softmax
    from pets_classifier.inference import load_model
    from pets_classifier.predict import open_image, known_scores, predict
    from pets_classifier.samples import make_non_pets
    from pets_classifier.interpret import ece, classification_metrics
    from pets_classifier.data import label_images
    from pets_classifier.app import valid_images
    clf = load_model(run, precision='fp32')
    cal = clf.calibration
    if not cal: sys.exit(f"{run} has no calibration in model.json: train it with this version of pets train")
    def logits_of(files): return np.concatenate([clf.logits([open_image(f) for f in files[i:i+32]]).numpy()
                                                 for i in range(0, len(files), 32)])
    valid = valid_images(run)
    v_logits, v_targets = logits_of([f for f, _ in valid]), np.array([clf.vocab.index(l) for _, l in valid])
    held = label_images(holdout)
    h_logits, h_targets = logits_of(held.files), np.array([clf.vocab.index(l) for l in held.labels])
    others = make_non_pets(work/'non_pets')
    o_logits = logits_of(others)
    t = cal['temperature']
    soft = lambda z, temp: softmax(z / temp, axis=1)
    print(f"model {run} ({clf.arch}), temperature {t:.3f} fitted on {cal['n_valid']} validation photos; "
          f"{len(held.files)} held-out pet photos, {len(others)} photos of other things")
    m = classification_metrics(soft(h_logits, t), h_targets, clf.vocab)
    print(f"held-out: accuracy {m['accuracy']:.3f}, top-5 {m['top5_accuracy']:.3f}, macro F1 {m['macro_f1']:.3f}")
    e0, e1 = ece(soft(h_logits, 1.), h_targets), ece(soft(h_logits, t), h_targets)
    print(f"calibration: ECE (15 bins) on the held-out photos {e0:.4f} before, {e1:.4f} after (target: lower); "
          f"on the validation set {cal['ece_before']:.4f} -> {cal['ece_after']:.4f}")

    right_v, right_h = v_logits.argmax(1) == v_targets, h_logits.argmax(1) == h_targets
    rules = {"top probability, uncalibrated (today)": (1., 'max_prob', None),
             "max_prob: calibrated top probability": (t, 'max_prob', cal['thresholds']['max_prob']),
             "energy (the default rule)": (t, 'energy', cal['thresholds']['energy'])}
    print(f"\n{'unknown rule':40s} {'non-pets flagged':>17s} {'good pets flagged':>18s} {'accuracy answered':>18s}")
    lines = []
    for name, (temp, score, threshold) in rules.items():
        if threshold is None: threshold = np.quantile(known_scores(v_logits[right_v], temp, score), cal['flagged'])
        flag_o = known_scores(o_logits, temp, score) < threshold
        flag_h = known_scores(h_logits, temp, score) < threshold
        answered = ~flag_h
        print(f"{name:40s} {flag_o.mean():17.1%} {flag_h[right_h].mean():18.1%} {right_h[answered].mean():18.3f}")
        lines.append((name, flag_o.mean(), flag_h[right_h].mean()))
    rows = predict(clf, others)  # the library's prediction path: the model's own rule from model.json
    assert [r['unknown'] for r in rows] == list(known_scores(o_logits, t, cal['unknown']) < cal['thresholds'][cal['unknown']])
    name, o, h = lines[-1]
    print(f"\nunknown: energy flags {o:.1%} of photos of other things and {h:.1%} of correctly classified held-out pets "
          f"(target: >= 90% and <= 5%); calibrated top probability {lines[1][1]:.1%} / {lines[1][2]:.1%}; "
          f"uncalibrated today {lines[0][1]:.1%} / {lines[0][2]:.1%}")

if __name__ == '__main__': main()
