"""Latency and throughput of the web app's HTTP API (`pets app`) against `pets predict` (the library's `predict`),
measured in the same run, on the same photos and model, over the loopback interface only.

    python bench/app_latency.py --model pets-run --data ../shared/data/pets-real-dev/images

Starts `pets app` on 127.0.0.1 (a free port) in a subprocess for each queue setting, and sends photos through
gradio_client (upload, queue, prediction, answer: what a user's script does): --n requests one after another for
p50/p95 latency, then --clients threads sharing --n requests for throughput. Beside them, in this process: the
library's `predict` one photo at a time and in batches, and the `pets predict` command on the same photos. Every
loop is bounded by its request count and by --max-seconds.
"""
import argparse, os, socket, statistics, subprocess, sys, tempfile, threading, time, warnings
from pathlib import Path
warnings.filterwarnings('ignore')

PETS = str(Path(sys.executable).parent/'pets')
SETTINGS = {'concurrency 1, no batching (default)': [], 'concurrency 2': ['--concurrency', '2'],
            'batches of up to 8': ['--batch', '8']}

def free_port() -> int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def start_app(model:str, extra:list) -> tuple:
    "`pets app` on a free loopback port; returns the process and its URL once it answers."
    port, log = free_port(), tempfile.NamedTemporaryFile('w+', suffix='.log', delete=False)
    proc = subprocess.Popen([PETS, 'app', model, '--port', str(port), '--examples', '0', *extra], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, 'NO_PROXY': '127.0.0.1,localhost'})
    t0 = time.time()
    while 'Running on local URL' not in Path(log.name).read_text():
        if proc.poll() is not None or time.time() - t0 > 180: raise SystemExit(f"pets app did not start:\n{Path(log.name).read_text()}")
        time.sleep(0.2)
    return proc, f'http://127.0.0.1:{port}/'

def sequential(client, files:list, deadline:float) -> tuple:
    "Seconds per request and the answers, one request at a time."
    from gradio_client import handle_file
    times, answers = [], []
    for f in files:
        if time.time() > deadline: break
        t = time.perf_counter(); answers.append(client.predict(handle_file(f), api_name='/predict')[0]); times.append(time.perf_counter() - t)
    return times, answers

def concurrent(url:str, files:list, clients:int, deadline:float) -> float:
    "Requests answered per second with `clients` threads, each with its own client, taking photos from one list."
    from gradio_client import Client, handle_file
    todo, lock, done = list(files), threading.Lock(), []
    def work():
        c = Client(url, verbose=False)
        while time.time() < deadline:
            with lock:
                if not todo: return
                f = todo.pop()
            c.predict(handle_file(f), api_name='/predict'); done.append(f)
    threads = [threading.Thread(target=work) for _ in range(clients)]
    t = time.perf_counter()
    for th in threads: th.start()
    for th in threads: th.join()
    return len(done) / (time.perf_counter() - t)

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--model', required=True, help="a run or model folder from `pets train`")
    ap.add_argument('--data', default='../shared/data/pets-real-dev/images', help="folder of photos sent to the API")
    ap.add_argument('--n', type=int, default=200, help="requests timed one after another, and shared by the clients")
    ap.add_argument('--clients', type=int, default=8, help="concurrent clients for the throughput figure")
    ap.add_argument('--max-seconds', type=float, default=300, help="bound on each timed loop")
    a = ap.parse_args()
    import torch
    from fastai.vision.all import get_image_files
    from gradio_client import Client
    from pets_classifier.inference import load_model, predict

    photos = sorted(get_image_files(a.data))
    files = [photos[i % len(photos)] for i in range(a.n)]
    for f in photos: f.read_bytes()  # page cache warm for every contender
    clf = load_model(a.model)
    print(f"{a.n} requests over {min(a.n, len(photos))} photos from {a.data}, {clf.arch} ({a.model}), "
          f"{os.cpu_count()} CPU cores, torch threads {torch.get_num_threads()}")

    predict(clf, files[:3], bs=1)  # warm-up
    lib = []
    for f in files:
        t = time.perf_counter(); predict(clf, [f], bs=1); lib.append(time.perf_counter() - t)
    t = time.perf_counter(); expected = predict(clf, files, bs=32); lib_batched = len(files) / (time.perf_counter() - t)
    t = time.perf_counter(); subprocess.run([PETS, 'predict', a.model, *map(str, files), '--quiet'], check=True, capture_output=True)
    cmd = len(files) / (time.perf_counter() - t)

    seq, tput, agree = {}, {}, None
    for name, extra in SETTINGS.items():
        proc, url = start_app(a.model, extra)
        try:
            client = Client(url, verbose=False)
            sequential(client, files[:5], time.time() + 60)  # warm-up
            if not seq:
                seq[name], answers = sequential(client, files, time.time() + a.max_seconds)
                agree = sum([o['label'] for o in ans['confidences']] == [c for c, _ in r['top']] and
                            all(abs(o['confidence'] - p) < 1e-5 for o, (_, p) in zip(ans['confidences'], r['top']))
                            for ans, r in zip(answers, expected))
            tput[name] = concurrent(url, files, a.clients, time.time() + a.max_seconds)
        finally: proc.terminate(); proc.wait(timeout=30)

    q = lambda v, p: 1000 * statistics.quantiles(v, n=100)[p - 1]
    row = lambda label, v: print(f"  {label:44} {q(v, 50):7.1f} {q(v, 95):7.1f}")
    print(f"\none photo at a time, {len(lib)} requests (ms):                  p50     p95")
    row('library predict, batch of 1 (pets predict)', lib)
    for name, v in seq.items(): row(f'HTTP API /predict, {name.split(" (")[0]}', v)
    extra_ms = q(next(iter(seq.values())), 50) - q(lib, 50)
    print(f"  the API adds {extra_ms:.1f} ms at p50: upload, queue, JSON over loopback")
    print("\nthroughput, images/s:")
    print(f"  library predict, batches of 32              {lib_batched:7.1f}")
    print(f"  pets predict command, batches of 32         {cmd:7.1f}   (whole command: start-up, model load, {len(files)} photos)")
    for name, v in tput.items(): print(f"  HTTP API, {a.clients} clients, {name:32} {v:7.1f}")
    print(f"\nAPI answers equal to predict's (top 3, to 1e-5): {agree}/{len(files)}")

if __name__ == '__main__': main()
