"""What `pets train --track mlflow tensorboard` adds to a run: the same `pets train`, with and without tracking.

    python bench/track.py --data ../shared/data/pets-real-dev/images --repeats 2  # real photos: the default run
    python bench/track.py                                 # the synthetic sample at 64 px (a quick look, not the note's)

Each run is the whole command with its defaults (`--arch auto`: on a machine without a GPU efficientnet_lite2 at
260 px on cached features, no stage 2) in a fresh process, into a fresh run folder (so each tracked run also creates its
MLflow store: the most it costs), the two kinds alternating so that a busy machine slows both alike. It prints each
run's wall-clock and CPU seconds (this process's children: user + system), the medians, and the overhead of tracking
against the run without it. With `--threads N` torch runs N threads (OMP_NUM_THREADS); the default, 1, is how this
project times on its 2 shared cores.

Whole runs on a shared machine vary by more than tracking costs, so it also measures tracking's own work apart: in a
fresh process, with torch and fastai already imported, a finished run replayed through `Tracking` as `pets train`
drives it (a new MLflow store, the run's epochs logged one at a time, the results, the files, TensorBoard's summary
and figures): the seconds that importing MLflow and TensorBoard, opening the store and logging add to a run, but for
fastai's TensorBoardCallback, which writes during training.
"""
import argparse, os, resource, statistics, subprocess, sys, tempfile, time
from pathlib import Path

def cpu() -> float:
    "CPU seconds of the finished child processes so far."
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime

def run(argv:list, env:dict) -> tuple:
    "(wall seconds, CPU seconds) of `pets ARGV`; stops on failure."
    t, c = time.perf_counter(), cpu()
    res = subprocess.run([str(Path(sys.executable).parent/'pets'), *argv], env=env, capture_output=True, text=True)
    if res.returncode: sys.exit(f"pets {' '.join(argv)} failed:\n{res.stderr[-2000:]}")
    return time.perf_counter() - t, cpu() - c

REPLAY = """
import csv, resource, shutil, sys, time
from pathlib import Path
from pets_classifier.run_folder import read_config
from pets_classifier.track import Tracking
cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
run, copy = Path(sys.argv[1]), Path(sys.argv[2])
shutil.copytree(run, copy, ignore=shutil.ignore_patterns('mlruns', 'tensorboard'))
config = read_config(copy)
t, c = time.perf_counter(), cpu()
track = Tracking(('mlflow', 'tensorboard'), config, copy)
for row in csv.DictReader(open(copy/'metrics.csv')):
    track.mlflow.log({f"{row['stage']}/{k}": float(row[k]) for k in ('train_loss', 'valid_loss', 'accuracy')}, 0)
track.record(); track.finish(config)
print(f"{time.perf_counter() - t:.1f} {cpu() - c:.1f}")
"""

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data', help="folder of photos (default: the synthetic sample, 4 breeds, 8 each, 64 px)")
    p.add_argument('--arch', default='auto', help="backbone (default: pets train's own, auto)")
    p.add_argument('--repeats', type=int, default=3, help="runs of each kind")
    p.add_argument('--threads', type=int, default=1, help="torch threads (OMP_NUM_THREADS); 0: torch's default")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix='bench-track-'))
    if args.data: data, extra = Path(args.data), []
    else:
        from pets_classifier.samples import make_sample_pets
        data, extra = make_sample_pets(tmp/'sample', n_per_class=8, breeds=4, size=64), ['--size', '64', '--bs', '8']
    env = {**os.environ, 'GRADIO_ANALYTICS_ENABLED': 'False'}
    env.pop('MLFLOW_TRACKING_URI', None)
    if args.threads: env['OMP_NUM_THREADS'] = str(args.threads)
    times = {'plain': [], 'tracked': []}
    for i in range(args.repeats):
        for kind in times:
            track = ['--track', 'mlflow', 'tensorboard'] if kind == 'tracked' else []
            arch = ['--arch', args.arch] if args.arch != 'auto' else []
            wall, used = run(['train', '--data', str(data), *arch, *extra, '--quiet',
                              '--out', str(tmp/f'{kind}-{i}'), *track], env)
            times[kind].append((wall, used))
            print(f"{kind:8} run {i + 1}: {wall:6.1f} s wall, {used:6.1f} s CPU", flush=True)
    med = {k: [statistics.median(x[j] for x in v) for j in (0, 1)] for k, v in times.items()}
    for j, what in enumerate(('wall', 'CPU')):
        plain, tracked = med['plain'][j], med['tracked'][j]
        print(f"median {what:4}: without --track {plain:.1f} s, with {tracked:.1f} s: "
              f"{tracked - plain:+.1f} s ({(tracked / plain - 1):+.1%}; target under +5%)")
    replayed = [subprocess.run([sys.executable, '-c', REPLAY, str(tmp/f'tracked-{i}'), str(tmp/f'replay-{i}')], env=env,
                               capture_output=True, text=True).stdout.split() for i in range(args.repeats)]
    for wall, used in replayed:
        print(f"tracking's own work, a tracked run replayed: {float(wall):.1f} s wall, {float(used):.1f} s CPU "
              f"({float(used) / med['plain'][1]:.1%} of a run's CPU)")
    load = ', '.join(f"{x:.1f}" for x in os.getloadavg())
    print(f"data {data}, {args.arch}, {args.threads or 'default'} torch thread(s); load average at the end: {load}")

if __name__ == '__main__': main()
