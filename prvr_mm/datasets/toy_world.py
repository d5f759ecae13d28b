"""The latent world of the toy PRVR dataset (:mod:`prvr_mm.datasets.toy`):
concepts (actions x objects) and the four views of them -- student clip
features, teacher frame features, teacher sentence features and query
token features.  See the toy module's docstring for what each view knows.
"""
import numpy as np

ACTIONS = ('opens', 'carries', 'throws', 'washes', 'paints', 'drops', 'lifts',
           'pushes', 'cuts', 'folds', 'kicks', 'holds', 'shakes', 'cleans',
           'fixes', 'hides')
OBJECTS = ('door', 'box', 'ball', 'cup', 'chair', 'book', 'bag', 'phone',
           'plate', 'towel', 'bottle', 'lamp', 'shoe', 'hat', 'key', 'bowl',
           'knife', 'guitar', 'laptop', 'pillow', 'basket', 'broom', 'mirror',
           'window', 'bicycle', 'camera', 'blanket', 'candle', 'jacket',
           'ladder', 'paper', 'table')
FILLERS = ('a', 'the', 'person', 'then', 'slowly', 'someone', 'and', 'man',
           'woman', 'quickly')


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _noise(rng: np.random.Generator, shape, level: float,
           scale: float) -> np.ndarray:
    """Isotropic Gaussian noise of expected norm about ``level * scale``."""
    dim = shape[-1] if isinstance(shape, tuple) else shape
    return level * rng.standard_normal(shape) / np.sqrt(dim) * scale


class ToyWorld:
    """Latent concepts and the four views (student clips, teacher frames,
    teacher sentences, query tokens) of them.

    Every random draw goes through one generator in a fixed order, so a seed
    fully determines the files.
    """

    def __init__(self, cfg: dict, rng: np.random.Generator) -> None:
        self.cfg, self.rng = cfg, rng
        dz = cfg['latent_dim']
        self.act_z = _unit(rng, cfg['num_actions'], dz)
        self.obj_z = _unit(rng, cfg['num_objects'], dz)
        self.bg_z = _unit(rng, 8, dz)
        self.w_student = rng.standard_normal(
            (dz, cfg['video_dim'])) / np.sqrt(dz)
        self.w_teacher = rng.standard_normal(
            (dz, cfg['teacher_dim'])) / np.sqrt(dz)
        self.w_token = rng.standard_normal(
            (dz, cfg['query_dim'])) / np.sqrt(dz)
        self.t_offset = _unit(rng, 1, cfg['teacher_dim'])[0] * \
            cfg['teacher_offset']
        self.filler_emb = rng.standard_normal(
            (len(FILLERS), cfg['query_dim'])) * 0.5

    def _between(self, bounds) -> int:
        return int(self.rng.integers(bounds[0], bounds[1] + 1))

    def video(self):
        """One video: student frames (T, Dv), teacher frames
        (ceil(T / stride), Dt) and the visible moments
        ``(action, object, start, end)`` (frame indices)."""
        cfg, rng = self.cfg, self.rng
        n_frames = self._between(cfg['frames'])
        bg = self.bg_z[rng.integers(0, len(self.bg_z), n_frames)] * \
            cfg['background']
        act, obj = np.zeros_like(bg), np.zeros_like(bg)
        n_mom = self._between(cfg['moments'])
        a0 = int(rng.integers(cfg['num_actions']))
        o0 = int(rng.integers(cfg['num_objects']))
        moments = []
        for m in range(n_mom):
            # distractors share the action or the object of moment 0
            if m == 0:
                a, o = a0, o0
            elif m % 2:
                a, o = a0, int(rng.integers(cfg['num_objects']))
            else:
                a, o = int(rng.integers(cfg['num_actions'])), o0
            length = min(n_frames, self._between(cfg['moment_len']))
            start = int(rng.integers(0, n_frames - length + 1))
            act[start:start + length] = self.act_z[a]
            obj[start:start + length] = self.obj_z[o]
            moments.append((a, o, start, start + length))
        # later moments overwrite earlier ones: keep the visible ones
        visible = [(a, o, s, e) for (a, o, s, e) in moments
                   if np.allclose(act[s:e], self.act_z[a])
                   and np.allclose(obj[s:e], self.obj_z[o])]
        zs = cfg['student_action'] * act + cfg['student_object'] * obj + bg
        student = zs @ self.w_student + _noise(
            rng, (n_frames, cfg['video_dim']), cfg['student_noise'], 4)
        zt = cfg['teacher_action'] * act + cfg['teacher_object'] * obj + bg
        stride = cfg['teacher_stride']
        n_t = -(-n_frames // stride)
        zt = np.stack(
            [zt[i * stride:(i + 1) * stride].mean(0) for i in range(n_t)])
        teacher = zt @ self.w_teacher + self.t_offset + _noise(
            rng, (n_t, cfg['teacher_dim']), cfg['teacher_noise'], 4)
        return student, teacher, visible

    def query(self, action: int, obj: int):
        """Sentence, token features (Lq, Dq) and CLIP sentence feature (Dt)
        of a query describing the moment ``(action, obj)``."""
        cfg, rng = self.cfg, self.rng
        n_fill = int(rng.integers(3, 7))
        fill = iter(rng.integers(0, len(FILLERS), n_fill))
        slots = sorted(rng.choice(n_fill + 2, 2, replace=False))
        words, tokens = [], []
        for pos in range(n_fill + 2):
            if pos == slots[0]:
                words.append(ACTIONS[action])
                vec = self.act_z[action] @ self.w_token
            elif pos == slots[1]:
                words.append(OBJECTS[obj])
                vec = self.obj_z[obj] @ self.w_token
            else:
                f = next(fill)
                words.append(FILLERS[f])
                vec = self.filler_emb[f]
            tokens.append(vec +
                          _noise(rng, cfg['query_dim'], cfg['token_noise'], 2))
        zt = cfg['teacher_action'] * self.act_z[action] + \
            cfg['teacher_object'] * self.obj_z[obj]
        text = zt @ self.w_teacher + \
            _noise(rng, cfg['teacher_dim'], cfg['teacher_noise'], 4)
        return ' '.join(words), np.stack(tokens), text
