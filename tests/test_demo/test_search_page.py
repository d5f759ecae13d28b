"""The search page (``demo/search_page.py``, ``demo/prvr_search.py
--serve``), served on localhost and driven in headless Chromium: type a
query, results appear with their similarity curves and videos playing from
the moment's start."""
import importlib.util
import os
import os.path as osp
import shutil
import socket
import time

import numpy as np
import pytest

from prvr_mm.apis import PRVRInferencer
from tests.helpers.browser import headless_chrome
from tests.helpers.tools import ROOT
from tests.helpers.tools import TINY_TOY_CFG as CFG
from tests.helpers.tools import save_random_checkpoint


def _load_page():
    spec = importlib.util.spec_from_file_location(
        'search_page', osp.join(ROOT, 'demo', 'search_page.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


search_page = _load_page()

QUERY = 'someone carries the cup'  # toy vocabulary words


def _find(*names):
    for name in names:
        path = shutil.which(name) or (f'/usr/bin/{name}' if
                                      osp.isfile(f'/usr/bin/{name}') else None)
        if path:
            return path
    return None


def write_webm(path, seconds, fps=4, size=(64, 48)):
    """A tiny VP8 video whose colour changes every second."""
    import av
    with av.open(path, 'w') as container:
        stream = container.add_stream('libvpx', rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = 'yuv420p'
        for i in range(max(1, int(round(seconds * fps)))):
            img = np.zeros((size[1], size[0], 3), np.uint8)
            img[..., i // fps % 3] = 200
            frame = av.VideoFrame.from_ndarray(img, format='rgb24')
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.fixture(scope='module')
def inferencer(tmp_path_factory, tiny_toy_root):
    work = tmp_path_factory.mktemp('page')
    ckpt = save_random_checkpoint(str(work / 'model.pth'), seed=0)
    inferencer = PRVRInferencer(
        CFG,
        ckpt,
        text_encoder=dict(type='ToyTextEncoder', data_root=tiny_toy_root))
    videos = work / 'videos'
    videos.mkdir()
    index = inferencer.index('test', data_root=tiny_toy_root)
    for vid, duration in zip(index.video_ids, index.durations.tolist()):
        if vid != 'toy_test_00005':  # one video without a file
            write_webm(str(videos / f'{vid}.webm'), duration)
    inferencer.index('test', data_root=tiny_toy_root, video_dir=str(videos))
    return inferencer


def test_free_text_search_end_to_end(inferencer, tiny_toy_root):
    """Sentences through the toy text encoder: well-formed results."""
    with open(osp.join(tiny_toy_root, 'TextData', 'toytest.caption.txt')) as f:
        sentences = [line.split(' ', 1)[1].strip() for line in f][:3]
    preds = inferencer.search(
        sentences + ['Opens the DOOR, slowly.'], top_k=4, return_curves=True)
    index = inferencer.search_index
    for sentence, pred in zip(sentences, preds):
        assert pred['query'] == sentence
        assert len(pred['results']) == 4
        scores = [r['score'] for r in pred['results']]
        assert scores == sorted(scores, reverse=True)
        for r in pred['results']:
            v = index.video_ids.index(r['video_id'])
            start, end = r['moment']
            assert r['unit'] == 's'
            assert 0 <= start < end <= index.durations[v].item() + 1e-9
            curves = r['curves']
            assert len(curves['spans']) == len(curves['fused']) == \
                int(index.num_clips[v])
            assert max(curves['inher']) == pytest.approx(
                r['inher_score'], abs=1e-5)
            assert r['clip'] == int(np.argmax(curves['fused']))
    with pytest.raises(ValueError, match='toy vocabulary'):
        inferencer.search('zebra xylophone')
    html = search_page.render_results(preds[0])
    assert html.count('class="prvr-result"') == 4
    assert 'prvr-series-inher' in html and 'prvr-moment' in html
    svg = search_page.curve_svg(
        dict(spans=[[0, 1]], inher=[0.5], fused=[0.5]), [0, 1], 'clip')
    assert svg.startswith('<svg') and 'clip' in svg


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_page_in_headless_chromium(inferencer, tmp_path):
    chromium = _find('chromium', 'chromium-browser', 'google-chrome')
    driver_path = _find('chromedriver')
    if chromium is None or driver_path is None:
        pytest.skip('chromium / chromedriver not installed (CI installs '
                    'them: apt-get install chromium chromium-driver)')
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    port = _free_port()
    page = search_page.launch_search_page(
        inferencer, port=port, top_k=4, block=False)
    driver = headless_chrome(chromium, driver_path,
                             str(tmp_path / 'chrome-profile'))
    try:
        driver.set_page_load_timeout(60)
        driver.get(f'http://127.0.0.1:{port}/')
        wait = WebDriverWait(driver, 180)
        box = wait.until(
            EC.element_to_be_clickable(
                (By.CSS_SELECTOR, '#prvr-query textarea, #prvr-query input')))
        # empty query: a message, not an error
        driver.find_element(By.CSS_SELECTOR, '#prvr-search').click()
        wait.until(
            EC.text_to_be_present_in_element((By.ID, 'prvr-results'),
                                             'The query is empty'))
        box.send_keys(QUERY)
        driver.find_element(By.CSS_SELECTOR, '#prvr-search').click()
        wait.until(lambda d: len(
            d.find_elements(By.CSS_SELECTOR, '.prvr-result')) == 4)
        cards = driver.find_elements(By.CSS_SELECTOR, '.prvr-result')
        for card in cards:
            for series in ('inher', 'explore', 'fused'):
                assert card.find_elements(By.CSS_SELECTOR,
                                          f'polyline.prvr-series-{series}')
            assert card.find_elements(By.CSS_SELECTOR, 'rect.prvr-moment')
        results = inferencer.search(QUERY, top_k=4)[0]
        ids = [
            c.find_element(By.CSS_SELECTOR, '.prvr-video-id').text
            for c in cards
        ]
        assert ids == [r['video_id'] for r in results['results']]
        # the top video loads and starts at the moment's start
        first = results['results'][0]
        if first['video_available']:
            video = cards[0].find_element(By.CSS_SELECTOR, 'video')
            wait.until(lambda d: d.execute_script(
                'return arguments[0].readyState', video) >= 1)
            now = driver.execute_script('return arguments[0].currentTime',
                                        video)
            assert now >= first['moment'][0] - 0.5
        missing = [
            c for c, r in zip(cards, results['results'])
            if not r['video_available']
        ]
        for card in missing:
            assert 'no video file' in card.text or 'missing' in card.text
        shot = str(tmp_path / 'search_page.png')
        driver.save_screenshot(shot)
        assert os.path.getsize(shot) > 10_000
        print(f'screenshot: {shot}')
        keep = os.environ.get('PRVR_SCREENSHOT')
        if keep:
            shutil.copy(shot, keep)
    finally:
        driver.quit()
        page.close()
    time.sleep(0.1)
