"The house keeps its rules: the run folder's files have one reader, and the training defaults are written once."
import ast, functools, inspect
from pathlib import Path
from pets_classifier.core import TrainSettings

PACKAGE = Path(__file__).resolve().parent.parent/'pets_classifier'
RUN_JSON = {'config.json', 'model.json'}

@functools.cache
def modules() -> dict:
    "Each module of the package (but nbdev's index), parsed once: no test changes the trees."
    return {p.name: ast.parse(p.read_text()) for p in sorted(PACKAGE.glob('*.py')) if p.name != '_modidx.py'}

def test_only_run_folder_names_the_run_json_files():
    "config.json and model.json are read and written in pets_classifier.run_folder alone: no other module names them."
    found = {name: sorted({n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value in RUN_JSON})
             for name, tree in modules().items() if name != 'run_folder.py'}
    assert not any(found.values()), {k: v for k, v in found.items() if v}

def test_only_run_folder_parses_json_files():
    "Outside run_folder.py, json.load and json.loads read no file: only ONNX metadata, checked there too."
    calls = {name: [ast.unparse(n)[:80] for n in ast.walk(tree) if isinstance(n, ast.Call)
                    and ast.unparse(n.func) in ('json.load', 'json.loads') and 'read_text' in ast.unparse(n)]
             for name, tree in modules().items() if name != 'run_folder.py'}
    assert not any(calls.values()), {k: v for k, v in calls.items() if v}

def test_training_defaults_are_written_once():
    "The data functions take the seed, validation share, size and batch size from TrainSettings, not literals."
    from pets_classifier.data import pets_block, pets_dataloaders, check_split, pets_splitter
    for f in (pets_block, pets_dataloaders, check_split, pets_splitter):
        for name, p in inspect.signature(f).parameters.items():
            if name in ('seed', 'valid_pct', 'size', 'bs') and p.default is not None:  # check_split's bs: None
                assert p.default == getattr(TrainSettings, name), (f, name)
    tree = modules()['data.py']
    literal = [f"{fn.name}({a.arg}={ast.unparse(d)})"
               for fn in ast.walk(tree) if isinstance(fn, ast.FunctionDef)
               for a, d in zip(fn.args.args[::-1], fn.args.defaults[::-1])
               if a.arg in ('seed', 'valid_pct', 'size', 'bs') and isinstance(d, ast.Constant) and d.value is not None
               and fn.name in ('pets_block', 'pets_dataloaders', 'check_split', 'pets_splitter')]
    assert not literal, literal

def test_loading_a_model_imports_no_training_code():
    "pets_classifier.inference (load_model, predict, evaluate) imports neither the trainer nor the pipeline."
    import subprocess, sys
    code = ("import sys, pets_classifier.inference; "
            "print(sorted(m for m in sys.modules if m.startswith('pets_classifier')))")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True).stdout
    assert 'pets_classifier.inference' in out
    training = {f'pets_classifier.{m}'
                for m in ('learner', 'features', 'train', 'plan', 'finish', 'pipeline', 'calibrate')}
    assert not training & set(eval(out)), out

def test_the_package_never_imports_its_fixtures():
    "samples.py is for the notebooks, tests, benches and lessons: no module of the package imports it."
    users = [name for name, tree in modules().items() for node in package_imports(tree)
             if (node.module or '').split('.')[-1] == 'samples' and name != 'samples.py']
    assert not users, users

def package_imports(tree:ast.AST) -> list:
    "The `from ... import` statements of `tree` that import from this package (relative, or `pets_classifier.`)."
    return [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
            and (n.level or (n.module or '').startswith('pets_classifier'))]

def private_imports(trees:dict) -> list:
    "(module, name) for each `_name` a module of the package imports from another module of the package."
    found = []
    for name, tree in trees.items():
        for node in package_imports(tree):
            found += [(name, a.name) for a in node.names if a.name.startswith('_') and a.name != '__version__']
    return found

def test_no_private_name_crosses_modules():
    "A module uses another's public names only: what one module keeps private, another cannot come to depend on."
    assert not private_imports(modules()), private_imports(modules())
    planted = {'x.py': ast.parse("from .train import _lr, fit_head\nfrom pets_classifier.data import _Lookup\n"
                                 "from fastai.vision.augment import _WarpCoord")}  # fastai's own: not ours
    assert private_imports(planted) == [('x.py', '_lr'), ('x.py', '_Lookup')]

def notebook_order_breaks(root:Path=PACKAGE.parent) -> list:
    "(notebook, module, imported module's notebook) where a module imports one whose notebook comes after its own."
    import json, re
    notebook = {}
    for p in sorted((root/'nbs').glob('*.ipynb')):
        for c in json.loads(p.read_text())['cells']:
            if m := re.match(r'#\| default_exp (\w+)', ''.join(c['source'])): notebook[m.group(1)] = p.stem
    found = []
    for mod, stem in notebook.items():
        for node in package_imports(modules()[f'{mod}.py']):
            used = (node.module or '').split('.')[-1]
            if notebook.get(used, '') > stem: found.append((stem, mod, notebook[used]))
    return found

def test_notebooks_are_numbered_in_import_order():
    "Each module's notebook comes after the notebooks of the modules it imports, so the docs read bottom up."
    assert not notebook_order_breaks(), notebook_order_breaks()

def functions(trees:dict) -> dict:
    "'module.function' (methods and nested functions too) -> the function's AST, for every function of the package."
    return {f"{mod[:-3]}.{fn.name}": fn for mod, tree in trees.items() for fn in ast.walk(tree)
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))}

def callers(trees:dict, *names:str) -> set:
    "The functions of `trees` that call any of `names` (a plain name or an attribute's last part)."
    called = lambda c: c.func.id if isinstance(c.func, ast.Name) else getattr(c.func, 'attr', None)
    return {q for q, fn in functions(trees).items()
            if any(isinstance(c, ast.Call) and called(c) in names for c in ast.walk(fn))}

def head_slicers(trees:dict) -> set:
    "The functions that slice fastai's head (`...[1][:x]`, `[1][x:]`): where the pooling and the layers after it part."
    sliced = lambda s: (isinstance(s, ast.Subscript) and isinstance(s.slice, ast.Slice)
                        and isinstance(s.value, ast.Subscript) and ast.unparse(s.value.slice) == '1')
    return {q for q, fn in functions(trees).items() if any(sliced(s) for s in ast.walk(fn))}

def test_one_home_for_cached_features():
    "Features are taken, heads on them made and fitted, and photos dealt into folds, each in one function of features."
    trees = modules()
    assert head_slicers(trees) == {'features.pooled_features', 'train.head_only'}  # the features; the head trained
    assert callers(trees, 'feature_engine', 'FeatureRows') == {'features.pooled_features'}  # the one extractor
    assert callers(trees, 'pooled_features') == {'features.head_features'}
    assert callers(trees, 'Learner') == {'features.fitted_head'}  # the one head fitted apart from the learner
    assert callers(trees, 'create_head', 'apply_init') == {'features.fresh_head'}  # the one new head
    assert callers(trees, 'fitted_head') == {'features.out_of_fold'}
    assert callers(trees, 'StratifiedKFold', 'KFold', 'randperm') == {'features._folds'}  # the one way into folds
    assert callers(trees, 'out_of_fold') == {'finish.stage1_out_of_fold', 'label_issues.label_issues'}
    planted = {'x.py': ast.parse("def view(learn, xb): return learn.model[1][:2](learn.model[0](xb))\n"
                                 "def oof(ys, k): return torch.randperm(len(ys)) % k\n")}
    assert head_slicers(planted) == {'x.view'} and callers(planted, 'randperm') == {'x.oof'}

def test_every_module_serves_the_library():
    "A module no other module imports is a command, the lesson's, or the fixtures: none is there for the benches alone."
    import json, tomllib
    trees, root = modules(), PACKAGE.parent
    imported = {(n.module or '').split('.')[-1] for tree in trees.values() for n in package_imports(tree)}
    unused = {name[:-3] for name in trees if name[:-3] not in imported and name != '__init__.py'}
    assert unused == {'cli', 'lesson', 'samples'}, unused
    scripts = tomllib.loads((root/'pyproject.toml').read_text())['project']['scripts']
    assert 'pets_classifier.cli:main' in scripts.values()  # `pets`
    lesson = ''.join(''.join(c['source']) for c in json.loads((root/'nbs/lessons/01_pets.ipynb').read_text())['cells'])
    assert 'from pets_classifier.lesson import' in lesson  # the lesson's set-up
    assert 'from pets_classifier.samples import' in lesson  # the lesson's offline sample, as the notebooks' and tests'
