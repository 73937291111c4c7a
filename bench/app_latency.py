"""Latency and throughput of the web app's HTTP API (`pets app`) against `pets predict` (the library's `predict`),
measured in the same run, on the same photos and model, over the loopback interface only.

    python bench/app_latency.py --model pets-run --data ../shared/data/pets-real-dev/images

Starts `pets app` on 127.0.0.1 (a free port) in a subprocess for each queue setting, and sends photos the way the
README's curl calls do (upload, start /predict, read the event stream; with httpx) and through gradio_client:
--n requests one after another for p50/p95 latency, then --clients threads sharing --n requests for throughput. Beside them, in this process: the
library's `predict` one photo at a time and in batches, and the `pets predict` command on the same photos. Every
loop is bounded by its request count and by --max-seconds.
"""
import argparse, json, os, socket, statistics, subprocess, sys, tempfile, threading, time, warnings
from pathlib import Path
warnings.filterwarnings('ignore')

PETS = str(Path(sys.executable).parent/'pets')
SETTINGS = {'batches of up to 8 (default)': ['--batch', '8'], 'no batching': ['--batch', '1'],
            'no batching, concurrency 2': ['--batch', '1', '--concurrency', '2']}  # the first also gives the latency

def free_port() -> int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def start_app(model:str, extra:list) -> tuple:
    "`pets app` on a free loopback port; returns the process and its URL once it answers."
    port, log = free_port(), tempfile.NamedTemporaryFile('w+', suffix='.log', delete=False)
    proc = subprocess.Popen([PETS, 'app', model, '--port', str(port), '--examples', '0', *extra], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, 'NO_PROXY': '127.0.0.1,localhost'})  # OMP_NUM_THREADS (--threads) goes along
    t0 = time.time()
    while 'Running on local URL' not in Path(log.name).read_text():
        if proc.poll() is not None or time.time() - t0 > 180: raise SystemExit(f"pets app did not start:\n{Path(log.name).read_text()}")
        time.sleep(0.2)
    return proc, f'http://127.0.0.1:{port}/'

def http_predict(http, f:Path) -> dict:
    "The README's three curl calls over one httpx connection: upload, start /predict, read the answer; the Label."
    path = http.post('/gradio_api/upload', files={'files': open(f, 'rb')}).json()[0]
    event = http.post('/gradio_api/call/predict', json={'data': [{'path': path, 'meta': {'_type': 'gradio.FileData'}}]}).json()['event_id']
    stream = http.get(f'/gradio_api/call/predict/{event}').text
    return json.loads(next(l for l in stream.splitlines() if l.startswith('data:'))[5:])[0]

def sequential(call, files:list, deadline:float) -> tuple:
    "Seconds per request and the answers, one request at a time."
    times, answers = [], []
    for f in files:
        if time.time() > deadline: break
        t = time.perf_counter(); answers.append(call(f)); times.append(time.perf_counter() - t)
    return times, answers

def concurrent(url:str, files:list, clients:int, deadline:float) -> float:
    "Requests answered per second with `clients` threads, each with its own connection, taking photos from one list."
    import httpx
    todo, lock, done = list(files), threading.Lock(), []
    def work():
        with httpx.Client(base_url=url, trust_env=False, timeout=120) as http:
            while time.time() < deadline:
                with lock:
                    if not todo: return
                    f = todo.pop()
                http_predict(http, f); done.append(f)
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
    ap.add_argument('--threads', type=int, help="torch threads in every process (OMP_NUM_THREADS): 1 when other work shares the cores, "
                    "where 2 OpenMP threads on 2 busy cores were measured 35x slower (default: torch's)")
    a = ap.parse_args()
    if a.threads: os.environ['OMP_NUM_THREADS'] = str(a.threads)  # before torch is imported, here and in the subprocesses
    import torch
    from fastai.vision.all import get_image_files
    from gradio_client import Client, handle_file
    from pets_classifier.inference import load_model
    from pets_classifier.predict import predict

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
            if not seq:
                import httpx
                with httpx.Client(base_url=url, trust_env=False, timeout=120) as http:
                    sequential(lambda f: http_predict(http, f), files[:5], time.time() + 60)  # warm-up
                    seq['HTTP API /predict (curl\'s calls, httpx)'], answers = sequential(lambda f: http_predict(http, f), files, time.time() + a.max_seconds)
                client = Client(url, verbose=False)
                seq['HTTP API /predict via gradio_client'], _ = sequential(
                    lambda f: client.predict(handle_file(f), api_name='/predict'), files, time.time() + a.max_seconds)
                agree = sum([o['label'] for o in ans['confidences']] == [c for c, _ in r['top']] and
                            all(abs(o['confidence'] - p) < 1e-5 for o, (_, p) in zip(ans['confidences'], r['top']))
                            for ans, r in zip(answers, expected))
            tput[name] = concurrent(url, files, a.clients, time.time() + a.max_seconds)
        finally: proc.terminate(); proc.wait(timeout=30)

    q = lambda v, p: 1000 * statistics.quantiles(v, n=100)[p - 1]
    row = lambda label, v: print(f"  {label:44} {q(v, 50):7.1f} {q(v, 95):7.1f}")
    print(f"\none photo at a time, {len(lib)} requests (ms):                  p50     p95")
    row('library predict, batch of 1 (pets predict)', lib)
    for name, v in seq.items(): row(name, v)
    extra_ms = q(next(iter(seq.values())), 50) - q(lib, 50)
    print(f"  the HTTP API adds {extra_ms:.1f} ms at p50: screening the upload, two requests and an event stream over loopback")
    print("\nthroughput, images/s:")
    print(f"  library predict, batches of 32              {lib_batched:7.1f}")
    print(f"  pets predict command, batches of 32         {cmd:7.1f}   (whole command: start-up, model load, {len(files)} photos)")
    for name, v in tput.items(): print(f"  HTTP API, {a.clients} clients, {name:32} {v:7.1f}")
    print("  (the clients run in this process, on the same cores as the server)")
    print(f"\nAPI answers equal to predict's (top 3, to 1e-5): {agree}/{len(files)}")

if __name__ == '__main__': main()
