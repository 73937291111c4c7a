"""Make the real sample that ships with the package (pets_classifier/sample): 5 Oxford-IIIT Pet photos of each of the
37 breeds from ../shared/data/pets-real-dev/images (the first 5 by number), the longest side 256 px (the offline
default trains at 260), JPEG quality 80.

The photos stay under the dataset's licence, CC BY-SA 4.0 (pets_classifier/sample/README.md credits it).
Run from the project's root: python tools/make_sample.py [PHOTOS]"""
import re, sys
from collections import defaultdict
from pathlib import Path
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
DEST, PER_BREED, SIDE, QUALITY = ROOT/'pets_classifier'/'sample'/'images', 5, 256, 80

def pick(photos:Path, per_breed:int=PER_BREED) -> list:
    "The first `per_breed` photos of each breed in `photos` (named <breed>_<n>.jpg), by number."
    by_breed = defaultdict(list)
    for f in photos.glob('*.jpg'):
        if m := re.fullmatch(r'(.+)_(\d+)\.jpg', f.name): by_breed[m.group(1)].append((int(m.group(2)), f))
    return [f for breed in sorted(by_breed) for _, f in sorted(by_breed[breed])[:per_breed]]

def shrink(src:Path, dest:Path, side:int=SIDE, quality:int=QUALITY):
    "`src` as an RGB JPEG at `dest`, its longest side `side` pixels (never enlarged)."
    with Image.open(src) as im:
        im = im.convert('RGB'); im.thumbnail((side, side), Image.LANCZOS)
        im.save(dest, 'JPEG', quality=quality, optimize=True)

if __name__ == '__main__':
    photos = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent/'shared'/'data'/'pets-real-dev'/'images'
    DEST.mkdir(parents=True, exist_ok=True)
    for old in DEST.glob('*.jpg'): old.unlink()
    for f in pick(photos): shrink(f, DEST/f.name)
    files = list(DEST.glob('*.jpg'))
    print(f"{len(files)} photos, {sum(f.stat().st_size for f in files) / 1e6:.2f} MB in {DEST}")
