"""docs/search.md "Your own videos, end to end" as a test: the commands of
its marked shell block run as subprocesses exactly as printed (only the
five settings at the top of the block are replaced: a tiny random CLIP
saved as a local file, 1 epoch, a free port), on a folder of generated
videos with caption files written here, then the page opens in headless
Chromium (screenshot under the test's tmp dir, copied to
``/tmp/prvr_page.png``)."""
import json
import os
import os.path as osp
import re
import shutil
import socket
import subprocess
import time

import pytest
import torch

from prvr_mm.apis import load_index
from prvr_mm.datasets.layout import parse_caption_file
from prvr_mm.datasets.toy_videos import make_toy_videos
from prvr_mm.models.teachers.open_clip_utils import TINY_CLIP_CFG, build_clip
from tests.helpers.browser import headless_chrome
from tests.helpers.tiny_models import write_tiny_clip_config
from tests.helpers.tools import ROOT

DOC = osp.join(ROOT, 'docs', 'search.md')
MARKER = '<!-- prvr-doc-test: own-videos -->'
SETTINGS = ('VIDEOS', 'CLIP', 'TEXT', 'EPOCHS', 'PORT')
SHOT = '/tmp/prvr_page.png'


def doc_block(path: str = DOC, marker: str = MARKER) -> list:
    """The lines of the shell block that follows ``marker``."""
    with open(path) as f:
        text = f.read()
    assert marker in text, f'{path} lost its marker {marker}'
    block = re.search(r'```shell\n(.*?)```', text[text.index(marker):], re.S)
    return block.group(1).splitlines()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _chromium():
    found = [shutil.which(n) for n in ('chromium', 'chromium-browser')]
    driver = shutil.which('chromedriver')
    if not any(found) or driver is None:
        pytest.skip('chromium / chromedriver not installed')
    return next(p for p in found if p), driver


def _user_folder(base: str) -> dict:
    """Generated videos in ``my_videos/`` and the caption files a user
    writes (``data/mine/TextData``), tiny CLIP weights as a local file."""
    gen = osp.join(base, 'gen')
    make_toy_videos(
        gen,
        num_videos=dict(train=6, val=3, test=3),
        collection='mine',
        size=32,
        duration=(3.0, 5.0),
        moment_len=(1.0, 2.0))
    shutil.copytree(osp.join(gen, 'videos'), osp.join(base, 'my_videos'))
    text = osp.join(base, 'data', 'mine', 'TextData')
    os.makedirs(text)
    for split in ('train', 'val', 'test'):
        name = f'mine{split}.caption.txt'
        shutil.copy(osp.join(gen, 'TextData', name), osp.join(text, name))
    with open(osp.join(gen, 'TextData', 'mine_meta.json')) as f:
        meta = json.load(f)
    for name in ('configs', 'tools', 'demo'):
        os.symlink(osp.join(ROOT, name), osp.join(base, name))
    # a tiny CLIP with the real embedding width (512), saved like a user's
    arch = write_tiny_clip_config(
        osp.join(base, 'models', 'tiny-clip512.json'),
        dict(TINY_CLIP_CFG, embed_dim=512))
    torch.manual_seed(0)
    weights = osp.join(base, 'models', 'tiny-clip512.pt')
    torch.save(build_clip(dict(model_cfg=arch)).model.state_dict(), weights)
    return dict(arch=arch, weights=weights, meta=meta)


def _scripts(lines: list, values: dict) -> list:
    """``(line, script)`` per command: every assignment before it (the
    settings replaced by ``values``) then the line, as printed."""
    prelude, out, replaced = [], [], set()
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith('#'):
            continue
        name = re.match(r'^([A-Z_]+)=', stripped)
        if name and name.group(1) in values:
            prelude.append(f'{name.group(1)}={values[name.group(1)]}')
            replaced.add(name.group(1))
        elif name:
            prelude.append(stripped)
        else:
            out.append((stripped, '\n'.join(prelude + [stripped])))
    assert replaced == set(values), f'settings not in the doc: {values}'
    return out


def test_documented_sequence_runs_to_the_page(tmp_path):
    chromium, driver_path = _chromium()
    base = str(tmp_path)
    user = _user_folder(base)
    port = _free_port()
    clip = f'"--model-config {user["arch"]} --pretrained {user["weights"]}"'
    values = dict(
        VIDEOS='my_videos',
        CLIP=clip,
        TEXT=f'"text_encoder.model_cfg={user["arch"]} '
        f'text_encoder.pretrained={user["weights"]}"',
        EPOCHS='1',
        PORT=str(port))
    env = dict(
        os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    timings, server = [], None
    try:
        for line, script in _scripts(doc_block(), values):
            if '--serve' in line:
                server = subprocess.Popen(['bash', '-c', script],
                                          cwd=base,
                                          env=env,
                                          stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE,
                                          text=True)
                break
            start = time.time()
            proc = subprocess.run(['bash', '-c', script],
                                  cwd=base,
                                  env=env,
                                  capture_output=True,
                                  text=True,
                                  timeout=300)
            timings.append((line, time.time() - start))
            assert proc.returncode == 0, (line, proc.stdout[-3000:],
                                          proc.stderr[-3000:])
        assert server is not None, 'the block has no --serve command'
        for line, seconds in timings:
            print(f'{seconds:6.1f} s  {line}')
        _check_results(base, user['meta'])
        _screenshot(chromium, driver_path, port, tmp_path, server)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)


def _check_results(base: str, meta: dict) -> None:
    """Spans and moments inside every video's duration; the video files
    recorded for the page."""
    index = load_index(osp.join(base, 'data', 'mine', 'search.index.h5'))
    test_ids = {
        c.split('#')[0]
        for c, _ in parse_caption_file(
            osp.join(base, 'data', 'mine', 'TextData', 'minetest.caption.txt'))
    }
    assert set(index.video_ids) == test_ids
    spans = index.spans.split(index.num_clips.tolist())
    for vid, dur, span in zip(index.video_ids, index.durations, spans):
        # the index's durations come from the feature rate (1 s per CLIP
        # frame): extraction does not record real durations in this tree
        assert float(span.min()) >= 0 and float(span.max()) <= float(dur)
        real = meta['videos'][vid]['duration']
        assert abs(float(dur) - real) <= 1.0, (vid, float(dur), real)
    with open(osp.join(base, 'data', 'mine', 'results.json')) as f:
        preds = json.load(f)
    results = preds[0]['results']
    assert len(results) == len(test_ids)
    for r in results:
        assert r['unit'] == 's' and r['video_available']
        dur = float(index.durations[index.video_ids.index(r['video_id'])])
        assert 0 <= r['moment'][0] < r['moment'][1] <= dur


def _screenshot(chromium, driver_path, port, tmp_path, server) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
    deadline = time.time() + 60
    while True:  # the page answers once the server is up
        assert server.poll() is None, server.stderr.read()[-3000:]
        try:
            socket.create_connection(('127.0.0.1', port), 1).close()
            break
        except OSError:
            assert time.time() < deadline, 'the page never came up'
            time.sleep(0.5)
    driver = headless_chrome(chromium, driver_path,
                             str(tmp_path / 'chrome-profile'))
    try:
        driver.set_page_load_timeout(60)
        driver.get(f'http://127.0.0.1:{port}/')
        wait = WebDriverWait(driver, 60)
        box = wait.until(
            EC.element_to_be_clickable(
                (By.CSS_SELECTOR, '#prvr-query textarea, #prvr-query input')))
        box.send_keys('a red circle')
        driver.find_element(By.CSS_SELECTOR, '#prvr-search').click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '.prvr-result'))
        card = driver.find_elements(By.CSS_SELECTOR, '.prvr-result')[0]
        assert card.find_elements(By.CSS_SELECTOR, 'rect.prvr-moment')
        shot = str(tmp_path / 'search_page.png')
        driver.save_screenshot(shot)
        assert os.path.getsize(shot) > 10_000
        shutil.copy(shot, SHOT)
        print(f'screenshot: {shot} (copied to {SHOT})')
    finally:
        driver.quit()
