"""Feature readers: every named data error, lazy per-process handles,
memmap BigFiles, RAM cache, and DataLoader / Runner workers."""
import os
import os.path as osp
import pickle

import h5py
import numpy as np
import pytest

from prvr_mm.datasets import (BigFileReader, H5FeatureReader, PRVRDataError,
                              PRVRFeatureDataset, build_feature_reader,
                              parse_caption_file)
from prvr_mm.datasets.layout import write_bigfile
from prvr_mm.datasets.readers import resolve_feature_path, scan_caption_file
from tests.helpers.mini import make_mini_collection

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


# ----------------------------------------------------------------- helpers
def write_captions(path, lines):
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return str(path)


def write_h5(path, items):
    with h5py.File(path, 'w') as f:
        for key, value in items.items():
            f[key] = value
    return str(path)


def feats(n, d, seed=0):
    return np.random.default_rng(seed).standard_normal(
        (n, d)).astype(np.float32)


@pytest.fixture
def bigfile(tmp_path):
    folder = str(tmp_path / 'i3d')
    write_bigfile(folder, {'v1': feats(3, 8, 1), 'v2': feats(5, 8, 2)})
    return folder


# ---------------------------------------------------------- caption files
def test_parse_caption_file(tmp_path):
    path = write_captions(tmp_path / 'c.txt', [
        'v1#enc#0 a man opens the door', '', 'v1#enc#1 he  leaves ',
        'v2#enc#0 a dog'
    ])
    assert parse_caption_file(path) == [('v1#enc#0', 'a man opens the door'),
                                        ('v1#enc#1', 'he  leaves'),
                                        ('v2#enc#0', 'a dog')]


def test_caption_missing_file(tmp_path):
    path = str(tmp_path / 'nope.caption.txt')
    with pytest.raises(PRVRDataError, match='caption file not found') as e:
        parse_caption_file(path)
    assert path in str(e.value)


@pytest.mark.parametrize(
    'bad', ['v1#enc#1', 'v1enc1 no hash in the id', 'v1#enc#1    '])
def test_caption_malformed_line(tmp_path, bad):
    path = write_captions(tmp_path / 'c.txt', ['v1#enc#0 fine', bad])
    with pytest.raises(PRVRDataError, match='malformed caption line') as e:
        parse_caption_file(path)
    assert f'{path}:2:' in str(e.value)  # file and line number
    assert '<video_id>#enc#<n> <sentence>' in str(e.value)


def test_caption_duplicate_cap_id(tmp_path):
    path = write_captions(tmp_path / 'c.txt',
                          ['v1#enc#0 a', 'v2#enc#0 b', 'v1#enc#0 c'])
    with pytest.raises(PRVRDataError, match="duplicate cap_id 'v1#enc#0'") \
            as e:
        parse_caption_file(path)
    assert f'{path}:3:' in str(e.value) and 'first on line 1' in str(e.value)


def test_caption_split_without_queries(tmp_path):
    path = write_captions(tmp_path / 'c.txt', ['', '   '])
    with pytest.raises(PRVRDataError, match='the split has no queries'):
        parse_caption_file(path)


def test_scan_caption_file_collects_every_error(tmp_path):
    path = write_captions(
        tmp_path / 'c.txt',
        ['v1#enc#0 a', 'broken', 'v1#enc#0 again', 'v2#enc#0 b', 'v3#enc#0'])
    pairs, errors = scan_caption_file(path)
    assert [c for c, _ in pairs] == ['v1#enc#0', 'v2#enc#0']
    assert len(errors) == 3
    assert f'{path}:2: malformed' in errors[0]
    assert f'{path}:3: duplicate' in errors[1]
    assert f'{path}:5: malformed' in errors[2]
    with pytest.raises(PRVRDataError) as e:  # the strict parser: first one
        parse_caption_file(path)
    assert str(e.value) == errors[0]


# --------------------------------------------------------------- h5 files
def test_h5_reads_and_reshapes(tmp_path):
    path = write_h5(
        tmp_path / 'f.hdf5',
        {
            'a': feats(4, 6),
            'b': feats(1, 6)[0],  # (D,) -> (1, D)
            'c': feats(1, 6)[None]  # (1, 1, D) -> (1, D)
        })
    reader = H5FeatureReader(path, dim=6)
    assert reader.read('a').shape == (4, 6)
    assert reader.read('a').dtype == np.float32
    assert reader.read('b').shape == (1, 6)
    assert reader.read('c').shape == (1, 6)
    assert sorted(reader.keys()) == ['a', 'b', 'c'] and 'a' in reader


def test_h5_missing_file(tmp_path):
    path = str(tmp_path / 'roberta.hdf5')
    with pytest.raises(PRVRDataError, match='feature file not found') as e:
        H5FeatureReader(path)
    assert path in str(e.value)


def test_h5_missing_key(tmp_path):
    path = write_h5(tmp_path / 'f.hdf5', {'v1#enc#0': feats(3, 6)})
    with pytest.raises(PRVRDataError) as e:
        H5FeatureReader(path, dim=6).read('v1#enc#1')
    msg = str(e.value)
    assert path in msg and "missing key 'v1#enc#1'" in msg
    assert '(T, 6)' in msg  # expected shape


def test_h5_wrong_dimension(tmp_path):
    path = write_h5(tmp_path / 'f.hdf5', {'v1': feats(3, 6)})
    with pytest.raises(PRVRDataError, match='dimension mismatch') as e:
        H5FeatureReader(path, dim=8).read('v1')
    assert path in str(e.value) and "'v1'" in str(e.value)
    assert '(3, 6)' in str(e.value) and '(T, 8)' in str(e.value)


def test_h5_zero_frame_video(tmp_path):
    path = write_h5(tmp_path / 'f.hdf5', {'v1': np.zeros((0, 6), 'f4')})
    with pytest.raises(PRVRDataError, match='has no frames') as e:
        H5FeatureReader(path, dim=6).read('v1')
    assert path in str(e.value) and 'T >= 1' in str(e.value)


@pytest.mark.parametrize('bad', [np.nan, np.inf, -np.inf])
def test_h5_non_finite_values(tmp_path, bad):
    x = feats(3, 6)
    x[1, 2] = bad
    path = write_h5(tmp_path / 'f.hdf5', {'v1': x})
    with pytest.raises(PRVRDataError, match='NaN or inf') as e:
        H5FeatureReader(path).read('v1')
    assert path in str(e.value) and "'v1'" in str(e.value)


def test_h5_cache_keeps_arrays_in_ram(tmp_path):
    path = write_h5(tmp_path / 'f.hdf5', {'v1': feats(3, 6)})
    reader = H5FeatureReader(path, cache=True)
    first = reader.read('v1')
    reader.close()
    os.remove(path)  # served from RAM from now on
    assert reader.read('v1') is first
    assert reader._handle is None


def test_h5_handle_is_lazy_per_process_and_not_pickled(tmp_path):
    path = write_h5(tmp_path / 'f.hdf5', {'v1': feats(3, 6)})
    reader = H5FeatureReader(path)
    assert reader._handle is None  # nothing opened at construction
    reader.read('v1')
    assert reader._handle is not None and reader._pid == os.getpid()
    clone = pickle.loads(pickle.dumps(reader))
    assert clone._handle is None and clone._pid is None
    np.testing.assert_array_equal(clone.read('v1'), reader.read('v1'))
    reader._pid = -1  # as seen from a forked worker: reopen there
    old = reader._handle
    reader.read('v1')
    assert reader._handle is not old and reader._pid == os.getpid()


def _compact_dataset(f, name, data):
    """A dataset stored inside its object header (compact layout)."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.COMPACT)
    space = h5py.h5s.create_simple(data.shape)
    dset = h5py.h5d.create(f.id, name.encode(), h5py.h5t.IEEE_F32LE, space,
                           dcpl)
    dset.write(h5py.h5s.ALL, h5py.h5s.ALL, data)


def test_h5_direct_reads_equal_hdf5_reads_for_every_layout(
        tmp_path, monkeypatch):
    """Contiguous numbers are read from their file offset, every other
    layout through HDF5; both give what h5py gives."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 6))
    path = str(tmp_path / 'f.hdf5')
    with h5py.File(path, 'w') as f:
        f['f4'] = x.astype('<f4')
        f['be_f4'] = x.astype('>f4')  # big-endian bytes on disk
        f['f8'] = x
        f['f2'] = x.astype('f2')
        f['i2'] = (x * 100).astype('i2')
        f['vec'] = x[0].astype('f4')  # (D,)
        f.create_dataset('chunked', data=x.astype('f4'), chunks=(2, 6))
        f.create_dataset('gzip', data=x.astype('f4'), compression='gzip')
        _compact_dataset(f, 'compact', x.astype('f4'))
        f.create_dataset(  # the bytes in another file
            'external',
            data=x.astype('f4'),
            external=[(str(tmp_path / 'ext.bin'), 0, h5py.h5f.UNLIMITED)])
    reads = []
    preadv = os.preadv

    def counting_preadv(fd, buffers, offset):  # the real call, counted
        reads.append(offset)
        return preadv(fd, buffers, offset)

    opens = []
    h5d_open = h5py.h5d.open

    def counting_open(*args, **kwargs):  # the real call, counted
        opens.append(args[1])
        return h5d_open(*args, **kwargs)

    monkeypatch.setattr(os, 'preadv', counting_preadv)
    monkeypatch.setattr(h5py.h5d, 'open', counting_open)
    reader = H5FeatureReader(path, dim=6)
    with h5py.File(path, 'r') as f:
        expected = {
            key: np.asarray(f[key][()], dtype=np.float32).reshape(-1, 6)
            for key in f
        }
    for _ in range(2):
        for key, value in expected.items():
            got = reader.read(key)
            assert got.dtype == np.float32 and got.flags.writeable
            np.testing.assert_array_equal(got, value, err_msg=key)
    # the six contiguous datasets come straight from the file (the second
    # time without asking HDF5 where), the four others through HDF5
    assert len(reads) == 12
    assert len(opens) == 10 + 4
    assert sorted(opens[10:]) == [b'chunked', b'compact', b'external', b'gzip']
    assert all(key in reader for key in expected) and 'absent' not in reader
    # a pickled reader (a worker's copy) starts without handle or layouts
    clone = pickle.loads(pickle.dumps(reader))
    assert clone._layouts == {} and clone._fd is None
    np.testing.assert_array_equal(clone.read('be_f4'), expected['be_f4'])


def test_h5_other_drivers_read_through_hdf5(tmp_path, monkeypatch):
    """No direct reads without the POSIX driver or ``os.preadv``."""
    path = write_h5(tmp_path / 'f.hdf5', {'a': feats(3, 6)})
    reader = H5FeatureReader(path, dim=6)
    monkeypatch.delattr(os, 'preadv')  # as on Windows
    np.testing.assert_array_equal(reader.read('a'), feats(3, 6))
    assert reader._fd is None and reader._layouts == {}


def test_h5_handle_closed_behind_the_reader_is_reopened(tmp_path):
    """A handle closed directly (not through ``close()``) is not read
    through its old file descriptor, which the system may hand to another
    file."""
    path = write_h5(tmp_path / 'f.hdf5', {'a': feats(3, 6)})
    other = tmp_path / 'other.bin'
    reader = H5FeatureReader(path, dim=6)
    reader.read('a')  # layout remembered
    old_fd = reader._fd
    reader.file.close()
    with open(other, 'wb') as f:
        f.write(b'\xff' * 4096)
    fd = os.open(other, os.O_RDONLY)  # likely the number just freed
    try:
        np.testing.assert_array_equal(reader.read('a'), feats(3, 6))
        assert reader._fd != fd and reader._handle.id.valid
    finally:
        os.close(fd)
    assert old_fd is not None


def test_h5_file_truncated_after_opening(tmp_path):
    path = write_h5(tmp_path / 'f.hdf5', {'a': feats(3, 6), 'b': feats(4, 6)})
    reader = H5FeatureReader(path, dim=6)
    reader.read('a')  # the handle is open
    with h5py.File(path, 'r') as f:
        end = f['b'].id.get_offset() + 10  # 'b' loses most of its bytes
    os.truncate(path, end)
    with pytest.raises(PRVRDataError, match='truncated') as e:
        reader.read('b')
    msg = str(e.value)
    assert path in msg and "'b'" in msg and '(4, 6)' in msg
    assert 'after 10 of its 96 bytes' in msg


# ---------------------------------------------------------------- BigFile
def test_bigfile_reads_frames_in_order_through_memmap(bigfile):
    reader = BigFileReader(bigfile, dim=8)
    assert reader.num == 8 and reader.feat_dim == 8
    assert isinstance(reader.matrix, np.memmap)
    np.testing.assert_array_equal(reader.read('v2'), feats(5, 8, 2))
    np.testing.assert_array_equal(reader.read('v1'), feats(3, 8, 1))
    assert reader.keys() == ['v1', 'v2']
    clone = pickle.loads(pickle.dumps(reader))  # the memmap is not pickled
    assert clone._handle is None
    np.testing.assert_array_equal(clone.read('v1'), feats(3, 8, 1))


@pytest.mark.parametrize(
    'name', ['shape.txt', 'id.txt', 'feature.bin', 'video2frames.txt'])
def test_bigfile_missing_component(bigfile, name):
    os.remove(osp.join(bigfile, name))
    with pytest.raises(PRVRDataError, match=f'missing {name}') as e:
        BigFileReader(bigfile)
    assert bigfile in str(e.value)


def test_bigfile_shape_disagrees_with_feature_bin(bigfile):
    with open(osp.join(bigfile, 'shape.txt'), 'w') as f:
        f.write('9 8')
    with pytest.raises(PRVRDataError) as e:
        BigFileReader(bigfile)
    msg = str(e.value)
    assert 'feature.bin has 256 bytes' in msg and '9 x 8' in msg
    assert '288 bytes' in msg


def test_bigfile_malformed_shape_txt(bigfile):
    with open(osp.join(bigfile, 'shape.txt'), 'w') as f:
        f.write('8')
    with pytest.raises(PRVRDataError, match='shape.txt: expected "N D"'):
        BigFileReader(bigfile)


def test_bigfile_id_count_mismatch(bigfile):
    with open(osp.join(bigfile, 'id.txt'), 'w') as f:
        f.write('a b c')
    with pytest.raises(
            PRVRDataError, match='id.txt lists 3 ids, shape.txt '
            'says 8'):
        BigFileReader(bigfile)


def test_bigfile_video2frames_unknown_frame_id(bigfile):
    with open(osp.join(bigfile, 'video2frames.txt'), 'w') as f:
        f.write(repr({'v1': ['v1_0', 'v1_1'], 'v2': ['v2_0', 'ghost_7']}))
    with pytest.raises(PRVRDataError) as e:
        BigFileReader(bigfile)
    msg = str(e.value)
    assert 'video2frames.txt' in msg and "video 'v2'" in msg
    assert "'ghost_7' absent from id.txt" in msg


@pytest.mark.parametrize('text', ['{not a dict', "['v1_0', 'v1_1']"])
def test_bigfile_video2frames_not_a_dict(bigfile, text):
    with open(osp.join(bigfile, 'video2frames.txt'), 'w') as f:
        f.write(text)
    with pytest.raises(PRVRDataError, match='dict literal'):
        BigFileReader(bigfile)


def test_bigfile_wrong_dimension(bigfile):
    with pytest.raises(PRVRDataError, match='dimension mismatch') as e:
        BigFileReader(bigfile, dim=3072)
    assert '8-d' in str(e.value) and '(T, 3072)' in str(e.value)


def test_bigfile_missing_video_id(bigfile):
    with pytest.raises(PRVRDataError) as e:
        BigFileReader(bigfile, dim=8).read('v3')
    assert "missing video id 'v3'" in str(e.value)
    assert 'video2frames.txt' in str(e.value) and '(T, 8)' in str(e.value)


def test_bigfile_zero_frame_video(bigfile):
    with open(osp.join(bigfile, 'video2frames.txt'), 'w') as f:
        f.write(repr({'v1': [], 'v2': ['v2_0']}))
    reader = BigFileReader(bigfile, dim=8)
    with pytest.raises(PRVRDataError, match="key 'v1' has no frames"):
        reader.read('v1')


def test_bigfile_non_finite_values(bigfile):
    matrix = np.fromfile(osp.join(bigfile, 'feature.bin'), np.float32)
    matrix[8 * 4 + 3] = np.nan  # frame 1 of v2
    matrix.tofile(osp.join(bigfile, 'feature.bin'))
    reader = BigFileReader(bigfile)
    reader.read('v1')
    with pytest.raises(PRVRDataError, match='NaN or inf') as e:
        reader.read('v2')
    assert 'feature.bin' in str(e.value) and "'v2'" in str(e.value)


def test_bigfile_cache(bigfile):
    reader = BigFileReader(bigfile, cache=True)
    first = reader.read('v1')
    assert reader.read('v1') is first
    assert BigFileReader(bigfile).read('v1') is not first


# ------------------------------------------------------ build / fallbacks
def test_build_feature_reader_dispatch_and_h5_fallback(tmp_path, bigfile):
    assert isinstance(build_feature_reader(bigfile), BigFileReader)
    h5 = write_h5(tmp_path / 'i3d_h5.hdf5', {'v1': feats(2, 8)})
    assert isinstance(build_feature_reader(h5), H5FeatureReader)
    # a config naming FeatureData/<name> also finds <name>.hdf5
    reader = build_feature_reader(str(tmp_path / 'i3d_h5'), dim=8)
    assert isinstance(reader, H5FeatureReader) and reader.path == h5
    assert resolve_feature_path(str(tmp_path / 'i3d_h5')) == h5
    missing = str(tmp_path / 'resnet')
    with pytest.raises(PRVRDataError, match='feature file not found') as e:
        build_feature_reader(missing)
    assert 'BigFile folder' in str(e.value) and missing in str(e.value)


# ----------------------------------------- the dataset (start-up checks)
def _dataset(root, collection='tvr', **kwargs):
    c = collection
    args = dict(
        data_root=osp.join(root, c),
        ann_file=f'TextData/{c}train.caption.txt',
        video_feature='FeatureData/i3d_resnet',
        text_feature=f'TextData/roberta_{c}_query_feat.hdf5',
        teacher_video_feature=(
            f'FeatureData/new_clip_vit_32_{c}_vid_features.hdf5'),
        teacher_text_feature=f'TextData/clip_ViT_B_32_{c}_query_feat.hdf5',
        video_dim=3072,
        text_dim=768,
        teacher_dim=512,
        pipeline=[])
    args.update(kwargs)
    return PRVRFeatureDataset(**args)


@pytest.fixture(scope='module')
def mini_tvr(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('mini'))
    paths = make_mini_collection(
        root,
        'tvr',
        num_videos=dict(train=3, val=2, test=2),
        frames=(3, 5),
        teacher_frames=(2, 4))
    return root, paths


def _copy(mini, tmp_path):
    import shutil
    shutil.copytree(mini[0], str(tmp_path / 'root'))
    return str(tmp_path / 'root'), {
        k: v.replace(mini[0], str(tmp_path / 'root'))
        for k, v in mini[1].items()
    }


def test_dataset_reads_real_dims_and_closes_handles(mini_tvr):
    ds = _dataset(mini_tvr[0])
    assert all(r._handle is None for r in ds.readers)  # closed after checks
    item = ds.load_features(ds.get_data_info(0))
    assert item['video_feat'].shape[1] == 3072
    assert item['query_feats'][0].shape[1] == 768
    assert item['teacher_video_feat'].shape[1] == 512
    assert item['teacher_query_feats'][0].shape == (512, )


def test_dataset_missing_cap_id_fails_at_start(mini_tvr, tmp_path):
    root, paths = _copy(mini_tvr, tmp_path)
    with h5py.File(paths['text'], 'a') as f:
        del f['tvr_train_v001#enc#0']
    with pytest.raises(PRVRDataError) as e:
        _dataset(root)
    msg = str(e.value)
    assert paths['text'] in msg and "'tvr_train_v001#enc#0'" in msg
    assert 'tvrtrain.caption.txt' in msg and '(L, 768)' in msg


def test_dataset_missing_video_id_fails_at_start(mini_tvr, tmp_path):
    root, paths = _copy(mini_tvr, tmp_path)
    with h5py.File(paths['teacher_video'], 'a') as f:
        del f['tvr_train_v002']
    with pytest.raises(PRVRDataError) as e:
        _dataset(root)
    assert paths['teacher_video'] in str(e.value)
    assert "'tvr_train_v002'" in str(e.value) and '(T, 512)' in str(e.value)
    # evaluation does not read the teacher files at all
    ds = _dataset(root, teacher_video_feature=None, teacher_text_feature=None)
    assert len(ds) == 3


def test_dataset_wrong_text_dimension_fails_at_start(mini_tvr):
    with pytest.raises(PRVRDataError, match='dimension mismatch') as e:
        _dataset(mini_tvr[0], text_dim=1024)
    assert 'roberta_tvr_query_feat.hdf5' in str(e.value)
    assert '(L, 1024)' in str(e.value)


def test_dataset_wrong_video_dimension_fails_at_start(mini_tvr):
    with pytest.raises(PRVRDataError, match='dimension mismatch'):
        _dataset(mini_tvr[0], video_dim=1024)


def test_dataset_zero_frame_bigfile_video_fails_at_start(mini_tvr, tmp_path):
    root, paths = _copy(mini_tvr, tmp_path)
    v2f_path = osp.join(paths['video'], 'video2frames.txt')
    with open(v2f_path) as f:
        v2f = eval(f.read())
    v2f['tvr_train_v000'] = []
    with open(v2f_path, 'w') as f:
        f.write(repr(v2f))
    with pytest.raises(PRVRDataError) as e:
        _dataset(root)
    assert "video 'tvr_train_v000' has no frames" in str(e.value)


def test_dataset_teacher_sentence_must_be_one_vector(mini_tvr, tmp_path):
    root, paths = _copy(mini_tvr, tmp_path)
    with h5py.File(paths['teacher_text'], 'a') as f:
        del f['tvr_train_v000#0']
        f['tvr_train_v000#0'] = feats(2, 512)
    ds = _dataset(root)
    with pytest.raises(PRVRDataError) as e:
        ds.load_features(ds.get_data_info(0))
    assert "'tvr_train_v000#0' has shape (2, 512)" in str(e.value)
    assert '(1, 512) or (512,)' in str(e.value)


# ------------------------------------------ workers (DataLoader, Runner)
class _Probe:
    """Reads a dataset item and reports which process held which handle."""

    def __init__(self, ds):
        self.ds = ds

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, idx):
        item = self.ds.load_features(self.ds.get_data_info(idx))
        return dict(
            pid=os.getpid(),
            text_pid=self.ds.text_reader._pid,
            video_pid=self.ds.video_reader._pid,
            teacher_pid=self.ds.teacher_video_reader._pid,
            memmap=isinstance(self.ds.video_reader._handle, np.memmap),
            frames=len(item['video_feat']))


def test_dataloader_persistent_workers_open_their_own_handles(mini_tvr):
    from torch.utils.data import DataLoader
    ds = _dataset(mini_tvr[0])
    loader = DataLoader(
        _Probe(ds),
        batch_size=None,
        num_workers=2,
        persistent_workers=True,
        multiprocessing_context='fork')
    epochs = [list(loader) for _ in range(2)]
    main = os.getpid()
    workers = set()
    for epoch in epochs:
        assert len(epoch) == len(ds)
        for rec in epoch:
            assert rec['pid'] != main
            assert rec['text_pid'] == rec['video_pid'] == \
                rec['teacher_pid'] == rec['pid']
            assert rec['memmap'] and rec['frames'] >= 1
        workers.add(frozenset(r['pid'] for r in epoch))
    assert len(workers) == 1  # the same (persistent) workers both epochs
    assert all(r._handle is None for r in ds.readers)  # main never read


def test_runner_trains_with_persistent_workers(tiny_toy_root, tmp_path):
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(
        osp.join(ROOT, 'tests', 'data', 'configs', 'tiny_toy.py'))
    cfg.work_dir = str(tmp_path / 'work')
    for name in ('train_dataloader', 'val_dataloader'):
        loader = cfg[name]
        loader.num_workers = 2
        loader.persistent_workers = True
        loader.dataset.data_root = tiny_toy_root
    cfg.test_dataloader.dataset.data_root = tiny_toy_root
    cfg.train_cfg.max_epochs = 2
    cfg.default_hooks.logger.interval = 50
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.epoch == 2
    assert osp.isfile(osp.join(cfg.work_dir, 'epoch_2.pth'))
    train_ds = runner.train_dataloader.dataset
    assert runner.train_dataloader.persistent_workers
    assert runner.train_dataloader.num_workers == 2
    # the features were read in the workers only
    assert all(r._handle is None for r in train_ds.readers)
    hist = runner.message_hub.get_scalar('val/prvr/SumR')
    assert len(hist.data[0]) == 2  # validated after each epoch
