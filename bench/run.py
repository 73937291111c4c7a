"""Every benchmark, one after another, each in a fresh process; ends with each target's line, ours beside stock fastai.

    python bench/run.py --data ../shared/data/pets-real-dev/images

About 15 minutes on two CPU cores (the accuracy comparison trains twice). `--only pipeline,loop` runs a subset.
"""
import argparse, subprocess, sys
from pathlib import Path

BENCHES = dict(pipeline='pipeline.py', loop='loop_overhead.py', predict='predict.py', accuracy='accuracy.py', memory='memory.py',
               gpu='gpu.py', onnx='onnx_export.py', unknown='unknown.py')
BENCHES['scale'] = 'scale.py'  # time and memory of each stage at 389 to 50,000 images: about 10 minutes

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--data', default='../shared/data/pets-real-dev/images')
    ap.add_argument('--only', default=','.join(BENCHES), help=f"comma-separated subset of {', '.join(BENCHES)}")
    a = ap.parse_args()
    summary, failed = [], []
    for name in a.only.split(','):
        print(f"\n== {name}: python bench/{BENCHES[name]}", flush=True)
        args = [] if name == 'memory' else ['--data', a.data]  # memory needs no photos
        res = subprocess.run([sys.executable, str(Path(__file__).parent/BENCHES[name]), *args], text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        print(res.stdout, end='', flush=True)
        if res.returncode: failed.append(name)
        summary += [l for l in res.stdout.splitlines() if 'target' in l or 'stages' in l or l.startswith('GPU path')]
    print('\n== summary (ours beside stock fastai, same run)\n' + '\n'.join(summary))
    if failed: sys.exit(f"failed: {', '.join(failed)}")

if __name__ == '__main__': main()
