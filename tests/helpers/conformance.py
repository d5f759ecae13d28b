"""Video conformance set: small generated files where frame readers trip
(B-frames in AVI, packed B-frames, edit lists, variable frame rate, open
GOPs, odd sizes, rotation, one frame, audio first, truncation), each
written with PyAV's encoders, as a session fixture ``conformance_videos``.

Every frame carries its index in a corner block, so a frame returned for
the wrong position is visible; the reference is always a plain sequential
PyAV decode of the same file.
"""
import os.path as osp
from fractions import Fraction
from typing import Dict, Iterable, Optional, Tuple

import numpy as np
import pytest

#: frame rate of every file (a time base of 1 / 10 s)
FPS = 10


def index_frames(n: int,
                 width: int = 48,
                 height: int = 32,
                 seed: int = 0) -> list:
    """(H, W, 3) uint8 RGB frames: moving noise plus a corner block whose
    grey level is the frame index."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    out = []
    for i in range(n):
        img = np.roll(base, i * 3, axis=1).copy()
        img[:max(1, height // 4), :max(1, width // 4)] = (i * 9) % 256
        out.append(img)
    return out


def _codec(name: str) -> bool:
    import av
    return name in av.codecs_available


def write_video(path: str,
                frames: Iterable[np.ndarray],
                codec: str,
                rate: int = FPS,
                pts: Optional[Iterable[int]] = None,
                time_base: Optional[Fraction] = None,
                pix_fmt: str = 'yuv420p',
                options: Optional[Dict[str, str]] = None,
                audio: Optional[str] = None,
                audio_first: bool = False,
                rotation: int = 0,
                container_options: Optional[Dict[str, str]] = None) -> str:
    """Encode frames with PyAV, with optional explicit pts (variable rate,
    first pts not 0), an audio track (``audio`` encoder, before or after
    the video stream) and a display rotation."""
    import av
    frames = list(frames)
    h, w = frames[0].shape[:2]
    with av.open(path, 'w', options=container_options or {}) as out:
        a_stream = None
        if audio and audio_first:
            a_stream = out.add_stream(audio, rate=44100)
        v = out.add_stream(codec, rate=rate, options=options or {})
        v.width, v.height, v.pix_fmt = w, h, pix_fmt
        v.thread_count = 1
        if time_base is not None:
            v.time_base = time_base
            v.codec_context.time_base = time_base
        if rotation:
            v.set_display_rotation(rotation)
        if audio and not audio_first:
            a_stream = out.add_stream(audio, rate=44100)
        stamps = list(pts) if pts is not None else list(range(len(frames)))
        for i, (img, stamp) in enumerate(zip(frames, stamps)):
            frame = av.VideoFrame.from_ndarray(img, format='rgb24')
            frame.pts = stamp
            if time_base is not None:
                frame.time_base = time_base
            out.mux(v.encode(frame))
            if a_stream is not None and i % 2 == 0:
                _mux_audio(out, a_stream, i // 2)
        out.mux(v.encode())
        if a_stream is not None:
            out.mux(a_stream.encode())
    return path


def _mux_audio(out, stream, k: int) -> None:
    import av
    n = 2 * 1152
    t = (np.arange(n) + k * n) / 44100.0
    samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    if stream.codec_context.name == 'aac':  # planar
        fmt, data = 'fltp', np.stack([samples, samples])
    else:  # interleaved
        fmt, data = 'flt', np.stack([samples, samples], 1).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(data, format=fmt, layout='stereo')
    frame.sample_rate = 44100
    frame.pts = k * n
    out.mux(stream.encode(frame))


def _nvop(index: int, time_bits: int = 4) -> bytes:
    """An MPEG-4 Part 2 'not coded' VOP (the N-VOP placeholder that packed
    bitstreams put where the B-frame moved away)."""
    bits = '01' + '0' + '1' + format(index % (1 << time_bits),
                                     f'0{time_bits}b') + '1' + '0'
    bits += '0' + '1' * ((8 - (len(bits) + 1) % 8) % 8)
    return b'\x00\x00\x01\xb6' + int(bits, 2).to_bytes(len(bits) // 8, 'big')


def write_packed_avi(path: str, frames: list) -> str:
    """MPEG-4 Part 2 with one B-frame per P-frame stored the DivX/XviD
    'packed' way: each P packet carries the following B-frame, an N-VOP
    takes the B-frame's place, and DivX user data marks the stream packed
    (as in XviD .avi files); MP3 audio."""
    import av
    plain = path + '.plain.avi'
    write_video(plain, frames, 'mpeg4', options=dict(bf='1', g='12'))
    with av.open(plain) as src:
        stream = src.streams.video[0]
        packets = [(bytes(p), p.is_keyframe) for p in src.demux(stream)
                   if p.size]
    packed, i = [], 0
    while i < len(packets):
        data, key = packets[i]
        if i == 0:
            head = data.index(b'\x00\x00\x01\xb6')
            data = (
                data[:head] + b'\x00\x00\x01\xb2DivX503b1393p' + data[head:])
        nxt = packets[i + 1] if i + 1 < len(packets) else None
        if not key and nxt is not None and not nxt[1]:
            packed += [(data + nxt[0], False), (_nvop(i + 1), False)]
            i += 2
        else:
            packed.append((data, key))
            i += 1
    with av.open(plain) as src, av.open(path, 'w') as out:
        v = out.add_stream_from_template(src.streams.video[0])
        a = out.add_stream(
            'libmp3lame' if _codec('libmp3lame') else 'mp3', rate=44100)
        for k, (data, key) in enumerate(packed):
            pkt = av.Packet(data)
            pkt.stream = v
            pkt.time_base = v.time_base
            pkt.pts = pkt.dts = k
            pkt.is_keyframe = key
            out.mux(pkt)
            if k % 2 == 0:
                _mux_audio(out, a, k // 2)
        out.mux(a.encode())
    return path


def truncate(path: str, keep: float) -> str:
    """Cut a file to its first ``keep`` fraction (a broken download)."""
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:int(len(data) * keep)])
    return path


x264 = dict(threads='1', preset='veryfast', **{'x264-params': 'mbtree=0'})

#: name -> (encoder needed, writer(path)); ``trunc_*`` must raise
CASES: Dict[str, Tuple[str, object]] = {
    'mpeg4_bframes_mp3.avi': ('mpeg4', lambda p: write_video(
        p,
        index_frames(40),
        'mpeg4',
        options=dict(bf='2', g='12'),
        audio='libmp3lame')),
    'mpeg4_packed_bframes_mp3.avi':
    ('libmp3lame', lambda p: write_packed_avi(p, index_frames(40))),
    'h264_bframes_editlist.mp4': ('libx264', lambda p: write_video(
        p,
        index_frames(40),
        'libx264',
        pts=range(7, 47),
        options=dict(x264, bf='3', g='12'))),
    'h264_vfr.mkv': ('libx264', lambda p: write_video(
        p,
        index_frames(30),
        'libx264',
        time_base=Fraction(1, 1000),
        pts=np.cumsum([0] + [40, 130, 60, 100, 250, 70] * 5)[:30].tolist(),
        options=dict(x264, bf='2', g='8'))),
    'hevc_open_gop.mp4': (
        'libx265',
        lambda p: write_video(
            p,
            index_frames(40, 64, 64),
            'libx265',
            options={
                # x265 crashed the process on 48x32 frames: 64 x 64
                'x265-params':
                'keyint=12:min-keyint=12:bframes=3:open-gop=1:'
                'pools=1:frame-threads=1:log-level=error'
            })),
    'vp9.webm': ('libvpx-vp9', lambda p: write_video(
        p,
        index_frames(30),
        'libvpx-vp9',
        options={
            'g': '9',
            'deadline': 'realtime',
            'cpu-used': '8',
            'threads': '1'
        })),
    'mjpeg.avi':
    ('mjpeg',
     lambda p: write_video(p, index_frames(20), 'mjpeg', pix_fmt='yuvj420p')),
    'mjpeg.mkv':
    ('mjpeg',
     lambda p: write_video(p, index_frames(20), 'mjpeg', pix_fmt='yuvj420p')),
    'h264_odd_33x17.mp4': ('libx264', lambda p: write_video(
        p,
        index_frames(24, 33, 17),
        'libx264',
        pix_fmt='yuv444p',
        options=dict(x264, bf='2', g='8'))),
    'h264_tiny_2x2.mkv': ('libx264', lambda p: write_video(
        p,
        index_frames(12, 2, 2),
        'libx264',
        pix_fmt='yuv444p',
        options=dict(x264, bf='2', g='4'))),
    'h264_rotate90.mp4': ('libx264', lambda p: write_video(
        p,
        index_frames(20, 48, 32),
        'libx264',
        rotation=90,
        options=dict(x264, bf='2', g='8'))),
    'h264_one_frame.mp4':
    ('libx264',
     lambda p: write_video(p, index_frames(1), 'libx264', options=x264)),
    'h264_audio_first.mkv': ('aac', lambda p: write_video(
        p,
        index_frames(30),
        'libx264',
        audio='aac',
        audio_first=True,
        options=dict(x264, bf='2', g='10'))),
    'trunc_faststart.mp4': ('libx264', lambda p: truncate(
        write_video(
            p,
            index_frames(40),
            'libx264',
            options=dict(x264, g='10'),
            container_options=dict(movflags='+faststart')), 0.6)),
    'trunc_mpeg4.avi': ('mpeg4', lambda p: truncate(
        write_video(
            p, index_frames(40), 'mpeg4', options=dict(bf='2', g='12')), 0.5)),
}


@pytest.fixture(scope='session')
def conformance_videos(tmp_path_factory) -> Dict[str, Tuple[str, str]]:
    """Write the conformance set once: name -> (path, '') or ('', the
    encoder the bundled FFmpeg lacks)."""
    root = tmp_path_factory.mktemp('conformance')
    out = {}
    for name, (encoder, writer) in CASES.items():
        if not _codec(encoder):
            out[name] = ('', encoder)
            continue
        path = osp.join(str(root), name)
        writer(path)
        out[name] = (path, '')
    return out
