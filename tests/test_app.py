"`pets app`: the Gradio page and its HTTP API on 127.0.0.1, used from Python, curl and a real browser (Chromium)."
import json, os, shutil, socket, subprocess, sys
from pathlib import Path
import pytest

pytest.importorskip('gradio', reason='the [app] extra is not installed')
from gradio_client import Client, handle_file
from pets_classifier.samples import make_bad_uploads, assert_same_top
from conftest import PETS, TRAINED_ARGS, served_url

CHROMIUM = '/usr/bin/chromium'  # Debian's package; .ci/run installs it


def photo() -> Path:
    "A real photo that ships with matplotlib (Grace Hopper): not a pet, but a real-looking JPEG."
    import matplotlib
    return Path(matplotlib.get_data_path())/'sample_data'/'grace_hopper.jpg'

@pytest.fixture(scope='module')
def server(trained, env, tmp_path_factory):
    "`pets app` on the trained model, in a subprocess on the port Gradio finds free (7860 or the next); its URL."
    log = tmp_path_factory.mktemp('app')/'app.log'
    # the fixture's dead proxy is for the internet only
    env = {**env, 'NO_PROXY': '127.0.0.1,localhost', 'no_proxy': '127.0.0.1,localhost', 'PYTHONUNBUFFERED': '1'}
    with open(log, 'w') as out:
        proc = subprocess.Popen([PETS, 'app', str(trained[0])], stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        yield served_url(proc, log, r'Running on local URL: +(http://\S+)').rstrip('/') + '/'
    finally:
        proc.terminate()
        try: proc.wait(timeout=20)
        except subprocess.TimeoutExpired: proc.kill(); proc.wait()

@pytest.fixture(scope='module')
def client(server): return Client(server, verbose=False)

@pytest.fixture(scope='module')
def bad(sample, tmp_path_factory): return make_bad_uploads(tmp_path_factory.mktemp('bad'), sorted(sample.iterdir())[0])

def predicted(pets, model, *files) -> list:
    "`pets predict --json` on `files`: the top classes of each, as [(class, probability), ...]."
    return [json.loads(l)['top'] for l in pets('predict', model, *files, '--json', check=0).stdout.splitlines()]

@pytest.mark.slow
def test_api_answers_as_pets_predict(client, pets, trained, sample):
    files = [*sorted(sample.iterdir())[::11], photo()]
    rows = [json.loads(l) for l in pets('predict', trained[0], *files, '--json', check=0).stdout.splitlines()]
    expected = [r['top'] for r in rows]
    for f, r, top in zip(files, rows, expected):
        label, message = client.predict(handle_file(f), api_name='/predict')
        assert ('does not look like any breed' in message) == r['unknown']  # as predict says
        assert_same_top(label, top)  # the same classes, probabilities within 1e-5 (another batch, another process)
    table, notes = client.predict([handle_file(f) for f in files], api_name='/predict_many')
    assert [r[1].split()[0] for r in table['data']] == [top[0][0] for top in expected]
    assert notes.count('does not look like any breed') == sum(r['unknown'] for r in rows)

@pytest.mark.parametrize('kind, says', [('text', 'not an image'), ('truncated', 'truncated'),
                                        ('bomb', 'decompression bomb'), ('pixel', 'tiny'), ('gif', 'converted to RGB'),
                                        ('cmyk', 'CMYK, converted to RGB'),
                                        ('gray16', '16-bit grayscale, converted to RGB')])
@pytest.mark.slow
def test_bad_upload_gets_a_message_and_the_server_goes_on(client, bad, sample, kind, says):
    label, message = client.predict(handle_file(bad[kind]), api_name='/predict')
    assert says in message, message
    assert (label is None or label == {}) if kind in ('text', 'truncated', 'bomb', 'pixel') else label['label']
    label, message = client.predict(handle_file(sorted(sample.iterdir())[0]), api_name='/predict')
    assert label['label'] == 'Abyssinian' and message == ''  # the next good photo is answered

@pytest.mark.slow
def test_several_photos_with_bad_ones(client, bad, sample):
    good = sorted(sample.iterdir())[0]
    table, notes = client.predict([handle_file(good), handle_file(bad['text']), handle_file(bad['bomb'])],
                                  api_name='/predict_many')
    assert [r[0] for r in table['data']] == ['Abyssinian_1.jpg', 'notes.txt', 'bomb.png']
    assert table['data'][0][1].startswith('Abyssinian') and table['data'][1][1:] == ['', '', '']
    assert 'not an image' in notes and 'decompression bomb' in notes

@pytest.mark.slow
@pytest.mark.skipif(not shutil.which('curl'), reason='no curl')
def test_curl_as_in_the_readme(server, client, sample):
    "The README's curl calls: upload the file, start a prediction with its path, read the answer from the event stream."
    curl = lambda *a: subprocess.run(['curl', '-sS', '--noproxy', '*', *a], capture_output=True, text=True, timeout=60,
                                     check=True).stdout
    f = sorted(sample.iterdir())[0]
    path = json.loads(curl('-F', f'files=@{f}', f'{server}gradio_api/upload'))[0]
    data = {'data': [{'path': path, 'meta': {'_type': 'gradio.FileData'}}]}
    event = json.loads(curl('-H', 'Content-Type: application/json', '-d', json.dumps(data),
                            f'{server}gradio_api/call/predict'))['event_id']
    stream = curl(f'{server}gradio_api/call/predict/{event}')
    data = json.loads(next(l for l in stream.splitlines() if l.startswith('data:'))[5:])
    assert 'event: complete' in stream and data == list(client.predict(handle_file(f), api_name='/predict'))

@pytest.mark.slow
def test_app_errors_are_one_line(pets, trained, tmp_path):
    "A missing model, a port already taken: one line on stderr, exit 2 (no Gradio installed: nbs/06_cli.ipynb)."
    res = pets('app', tmp_path/'nowhere')
    assert res.returncode == 2 and 'No model at' in res.stderr and 'Traceback' not in res.stderr
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); s.listen()
        res = pets('app', trained[0], '--port', s.getsockname()[1])
    assert res.returncode == 2 and 'Traceback' not in res.stderr
    assert res.stderr.startswith('pets: error: Cannot serve on 127.0.0.1:')

@pytest.mark.slow
def test_page_in_a_browser(server, client, bad, tmp_path):
    "Headless Chromium opens the page, uploads a photo, reads the breed; a bad file gets the message; a good one again."
    if not Path(CHROMIUM).exists():
        if os.environ.get('CI'): pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright, expect
    expected = client.predict(handle_file(photo()), api_name='/predict')[0]['label']
    outside = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=['--no-sandbox'])
        try:
            page = browser.new_page()
            page.on('request', lambda r: r.url.startswith((server, 'data:', 'blob:')) or outside.append(r.url))
            page.goto(server)
            expect(page.get_by_text('Pet breed classifier')).to_be_visible(timeout=30_000)
            expect(page.get_by_text('efficientnet_lite0')).to_be_visible()
            upload = page.locator('input[type=file]').first
            answer = page.get_by_test_id('label-output-value')
            upload.set_input_files(photo())
            expect(answer).to_contain_text(expected, timeout=30_000)
            page.screenshot(path=tmp_path/'prediction.png', full_page=True)
            page.get_by_label('Remove Image').click()
            # the page's file picker takes images only: a .txt never leaves the browser
            upload.set_input_files(bad['truncated'])
            expect(page.locator('#message')).to_contain_text('truncated', timeout=30_000)
            page.get_by_label('Remove Image').click()
            upload.set_input_files(photo())
            expect(answer).to_contain_text(expected, timeout=30_000)
            expect(page.locator('#message')).not_to_contain_text('truncated')
        finally: browser.close()
    assert not outside, f"the page asked for files outside the server: {outside[:5]}"

@pytest.mark.slow
def test_page_shows_where_the_model_looked(server, tmp_path):
    "Headless Chromium: a photo, then the CAM box ticked: the photo under its heatmap appears below the answer."
    if not Path(CHROMIUM).exists(): pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright, expect
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=['--no-sandbox'])
        try:
            page = browser.new_page()
            page.goto(server)
            expect(page.get_by_text('Pet breed classifier')).to_be_visible(timeout=30_000)
            cam = page.locator('#cam img')
            page.locator('input[type=file]').first.set_input_files(photo())
            expect(page.get_by_test_id('label-output-value')).to_be_visible(timeout=30_000)
            expect(cam).to_have_count(0)  # not asked for
            page.get_by_label('Show where the model looked (CAM)').check()
            expect(cam).to_be_visible(timeout=30_000)
            size = cam.evaluate('img => [img.naturalWidth, img.naturalHeight]')
            from PIL import Image
            assert size == list(Image.open(photo()).size), size  # the whole photo, the map over it
            page.screenshot(path=tmp_path/'cam.png', full_page=True)
            page.get_by_label('Show where the model looked (CAM)').uncheck()
            expect(cam).to_have_count(0)
        finally: browser.close()

def need_package_index():
    "Skip unless pip can reach a package index (PyPI or a mirror): it resolves a Space's requirements."
    asked = subprocess.run([sys.executable, '-m', 'pip', 'index', 'versions', 'pip'], capture_output=True, timeout=120)
    if asked.returncode: pytest.skip("needs the package index (PyPI or a mirror): pip resolves the Space's needs")

def resolved_requirements(space:Path, tmp_path:Path) -> set:
    "The names of what pip would install for `space`'s requirements.txt in a new virtual environment."
    subprocess.run([sys.executable, '-m', 'venv', str(tmp_path/'venv')], check=True)
    report = tmp_path/'report.json'
    res = subprocess.run([str(tmp_path/'venv'/'bin'/'pip'), 'install', '--dry-run', '--quiet', '--report', str(report),
                          '-r', 'requirements.txt'], cwd=space, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    return {i['metadata']['name'].lower() for i in json.loads(report.read_text())['install']}

@pytest.mark.slow
def test_space_installs_in_a_fresh_environment(trained, env, tmp_path):
    "A Space from write_space: pip resolves its requirements.txt in a new virtual environment (torch, Gradio and this "
    "package's wheel, no repository to fetch), and its app.py builds the page from the wheel alone."
    from pets_classifier.app import write_space
    need_package_index()
    space = write_space(trained[0], tmp_path/'space')
    names = resolved_requirements(space, tmp_path)
    assert {'pets-classifier', 'torch', 'fastai', 'gradio', 'timm'} <= names, names
    site = tmp_path/'site'  # the wheel alone; its dependencies are this environment's, the ones pip just resolved
    wheel = next(space.glob('*.whl'))
    subprocess.run([sys.executable, '-m', 'pip', 'install', '--quiet', '--no-deps', '--target', str(site), str(wheel)],
                   check=True)
    code = ("import runpy, pets_classifier; demo = runpy.run_path('app.py')['demo']; "
            "print(pets_classifier.__file__, type(demo).__name__)")
    res = subprocess.run([sys.executable, '-c', code], cwd=space, capture_output=True, text=True, timeout=300,
                         env={**env, 'PYTHONPATH': str(site)})
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.split() == [str(site/'pets_classifier'/'__init__.py'), 'Blocks'], res.stdout

@pytest.mark.slow
def test_course_space_needs_fastai_alone(pets, sample, env, tmp_path):
    "The course's Space from write_course_space: pip resolves its requirements.txt in a new virtual environment "
    "(fastai, timm, Gradio, torch; not this package), and its app.py answers a photo where pets_classifier cannot be "
    "imported."
    from pets_classifier.app import write_course_space
    from pets_classifier.inference import load_model
    from pets_classifier.predict import predict
    need_package_index()
    pets('train', '--data', sample, *TRAINED_ARGS, '--export-pkl', '--out', tmp_path/'run')
    space = write_course_space(tmp_path/'run', tmp_path/'space')
    names = resolved_requirements(space, tmp_path)
    assert {'fastai', 'timm', 'gradio', 'torch'} <= names and 'pets-classifier' not in names, names
    example = sorted((space/'examples').iterdir())[0]
    code = ("import sys, runpy; sys.modules['pets_classifier'] = None\n"  # import pets_classifier: ImportError
            "from PIL import Image\n"
            "demo = runpy.run_path('app.py')['demo']\n"
            "answer = demo.fns[0].fn(Image.open(sys.argv[1]).convert('RGB'))\n"
            "print(type(demo).__name__, max(answer, key=answer.get))")
    res = subprocess.run([sys.executable, '-c', code, str(example)], cwd=space, capture_output=True, text=True,
                         timeout=300, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    expected = predict(load_model(tmp_path/'run', precision='fp32'), [example])[0]['top'][0][0]
    assert res.stdout.split()[-2:] == ['Interface', expected], res.stdout
