"""Synthetic captioned scenes: coloured shapes on dull noisy backgrounds, and compositional
captions that say what is where ("two small red circles on the left", "a large blue star above a
green square"), drawn deterministically from a seed."""
import math
from typing import Dict, List, Sequence, Tuple

import numpy as np


def _polygon_regular(n: int, start: float = -math.pi / 2) -> np.ndarray:
    t = start + 2 * math.pi * np.arange(n) / n
    return np.stack([np.cos(t), np.sin(t)], axis=1)


def _star(points: int = 5, inner: float = 0.45) -> np.ndarray:
    t = -math.pi / 2 + math.pi * np.arange(2 * points) / points
    r = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    return np.stack([r * np.cos(t), r * np.sin(t)], axis=1)


def _cross(arm: float = 0.34) -> np.ndarray:
    a = arm
    return np.array([[-a, -1], [a, -1], [a, -a], [1, -a], [1, a], [a, a], [a, 1], [-a, 1],
                     [-a, a], [-1, a], [-1, -a], [-a, -a]], dtype=np.float64)


def _heart(n: int = 48) -> np.ndarray:
    t = np.linspace(0, 2 * math.pi, n, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    pts = np.stack([x, y + 2.5], axis=1) / 16.5  # y points down (image coordinates)
    return pts


# Unit outlines (radius ~1, image coordinates: y down) and a scale that evens out visual area.
_OUTLINES = dict(
    square=(_polygon_regular(4, -math.pi / 4), 1.0),
    triangle=(_polygon_regular(3) + np.array([0.0, 0.2]), 1.2),
    star=(_star(), 1.2),
    cross=(_cross(), 0.95),
    diamond=(_polygon_regular(4) * np.array([0.68, 1.0]), 1.2),
    heart=(_heart(), 1.05),
    hexagon=(_polygon_regular(6, 0.0), 1.0),
)


# circle and ring are drawn as ellipses.
SHAPES = ('circle', 'square', 'triangle', 'star', 'cross', 'ring', 'diamond', 'heart',
          'hexagon')


DEFAULT_SHAPES = ('circle', 'square', 'triangle', 'star', 'cross', 'ring', 'diamond', 'heart')


COLORS = dict(red=(220, 30, 30), green=(30, 170, 50), blue=(40, 80, 230),
              yellow=(240, 220, 30), purple=(150, 50, 200), orange=(250, 130, 20),
              pink=(250, 120, 190), white=(245, 245, 245))


DEFAULT_COLORS = ('red', 'green', 'blue', 'yellow', 'purple', 'orange', 'pink', 'white')


POSITIONS = dict(left=((0.27, 0.5), 'on the left'), right=((0.73, 0.5), 'on the right'),
                 top=((0.5, 0.27), 'at the top'), bottom=((0.5, 0.73), 'at the bottom'),
                 center=((0.5, 0.5), 'in the center'))


RELATIONS = dict(above=((0.0, -1.0), 'above'), below=((0.0, 1.0), 'below'),
                 left=((-1.0, 0.0), 'to the left of'), right=((1.0, 0.0), 'to the right of'))


COUNT_WORDS = {1: 'one', 2: 'two', 3: 'three'}


SIZE_RADIUS = dict(large=(0.17, 0.21), small=(0.085, 0.11), tiny=(0.05, 0.065))


SCENE_TEMPLATES = dict(
    label=dict(shape=('a photo of a {}.', 'a {} shape.', 'an image of a {}.',
                      'a drawing of a {}.'),
               color=('a photo of a {} object.', 'a {} shape.', 'an image of something {}.'),
               shape_color=('a photo of a {}.', 'a {} shape.', 'an image of a {}.')))


def _plural(shape: str) -> str:
    return shape + ('es' if shape.endswith(('s', 'x', 'ss')) else 's')


def _article(word: str) -> str:
    return 'an' if word[0] in 'aeiou' else 'a'


def _radius(rng: np.random.Generator, size: str) -> float:
    return float(rng.uniform(*SIZE_RADIUS[size]))


def _jitter(rng: np.random.Generator, amount: float) -> np.ndarray:
    return rng.uniform(-amount, amount, 2)


def relation_scene(rng: np.random.Generator, main_shape: str, main_color: str,
                   shapes: Sequence[str], colors: Sequence[str],
                   position_jitter: float) -> Tuple[List[Dict], str]:
    """A large main object in a spatial relation to a smaller one of another shape ("a large
    blue star above a green square"): the main one in one half, the other in the opposite."""
    rel = list(RELATIONS)[rng.integers(len(RELATIONS))]
    (dx, dy), rel_words = RELATIONS[rel]
    other_shape = [s for s in shapes if s != main_shape][rng.integers(len(shapes) - 1)]
    other_color = colors[rng.integers(len(colors))]
    cross_pos = 0.5 + rng.uniform(-0.12, 0.12, 2)
    main_c = np.array([0.5 + 0.23 * dx, 0.5 + 0.23 * dy]) + _jitter(rng, position_jitter)
    other_c = np.array([0.5 - 0.25 * dx, 0.5 - 0.25 * dy]) + _jitter(rng, position_jitter)
    if dx == 0:  # vertical relation: free horizontal offset
        main_c[0], other_c[0] = cross_pos[0], 1 - cross_pos[0] + rng.uniform(-0.1, 0.1)
    else:
        main_c[1], other_c[1] = cross_pos[1], 1 - cross_pos[1] + rng.uniform(-0.1, 0.1)
    objects = [dict(shape=main_shape, color=main_color, radius=_radius(rng, 'large'),
                    center=main_c, mentioned=True),
               dict(shape=other_shape, color=other_color, radius=_radius(rng, 'small'),
                    center=other_c, mentioned=True)]
    size_word = 'large ' if rng.random() < 0.7 else ''
    other_size = 'small ' if rng.random() < 0.5 else ''
    main_np = f'{size_word}{main_color} {main_shape}'
    other_np = f'{other_size}{other_color} {other_shape}'
    prefix = ('', 'a picture of ', 'there is ')[rng.integers(3)]
    caption = (f'{prefix}{_article(main_np)} {main_np} {rel_words} {_article(other_np)} '
               f'{other_np}')
    return objects, caption


def group_centres(rng: np.random.Generator, count: int, position: str) -> List[np.ndarray]:
    """Centres of ``count`` objects at a position: a column on the left or right, a row at the
    top or bottom, a small ring in the centre."""
    (cx, cy), _ = POSITIONS[position]
    if count == 1:
        return [np.array([cx, cy])]
    spacing = rng.uniform(0.25, 0.29)
    offsets = (np.arange(count) - (count - 1) / 2) * spacing
    if position in ('left', 'right'):
        return [np.array([cx, 0.5 + o]) for o in offsets]
    if position in ('top', 'bottom'):
        return [np.array([0.5 + o, cy]) for o in offsets]
    angle0 = rng.uniform(0, 2 * math.pi)
    ring = 0.15 if count == 2 else 0.17
    return [np.array([0.5 + ring * math.cos(angle0 + 2 * math.pi * k / count),
                      0.5 + ring * math.sin(angle0 + 2 * math.pi * k / count)])
            for k in range(count)]


def group_scene(rng: np.random.Generator, main_shape: str, main_color: str, max_count: int,
                position_jitter: float) -> Tuple[List[Dict], str]:
    """A group of identical objects at a position ("two small red circles on the left"); counts
    above 1 are small."""
    count = int(rng.integers(1, max_count + 1))
    size = 'large' if count == 1 and rng.random() < 0.5 else 'small'
    position = list(POSITIONS)[rng.integers(len(POSITIONS))]
    centres = group_centres(rng, count, position)
    r = _radius(rng, size)
    objects = [dict(shape=main_shape, color=main_color, radius=r * rng.uniform(0.92, 1.08),
                    center=c + _jitter(rng, position_jitter), mentioned=True) for c in centres]
    name = main_shape if count == 1 else _plural(main_shape)
    with_size = rng.random() < 0.75
    np_words = f'{size + " " if with_size else ""}{main_color} {name}'
    quantity = _article(np_words) if count == 1 else COUNT_WORDS[count]
    pos_words = POSITIONS[position][1]
    form = rng.integers(3)
    if form == 0:
        caption = f'{quantity} {np_words} {pos_words}'
    elif form == 1:
        caption = f'a photo of {quantity} {np_words} {pos_words}'
    else:
        verb = 'is' if count == 1 else 'are'
        caption = f'there {verb} {quantity} {np_words} {pos_words}'
    return objects, caption


def add_distractor(rng: np.random.Generator, objects: List[Dict], main_shape: str,
                   main_color: str, shapes: Sequence[str], colors: Sequence[str]) -> None:
    """Add a tiny unmentioned object of another shape and colour where it overlaps nothing."""
    d_shapes = [s for s in shapes if s not in {o['shape'] for o in objects}] or \
        [s for s in shapes if s != main_shape]
    d_colors = [c for c in colors if c != main_color]
    if not (d_shapes and d_colors):
        return
    d_r = _radius(rng, 'tiny')
    for _ in range(20):
        c = rng.uniform(0.08, 0.92, 2)
        if all(np.linalg.norm(c - o['center']) > o['radius'] + d_r + 0.03 for o in objects):
            objects.append(dict(shape=d_shapes[rng.integers(len(d_shapes))],
                                color=d_colors[rng.integers(len(d_colors))],
                                radius=d_r, center=c, mentioned=False))
            return


def sample_scene(rng: np.random.Generator, main_shape: str, main_color: str,
                 shapes: Sequence[str], colors: Sequence[str], relation_prob: float = 0.4,
                 distractor_prob: float = 0.35, max_count: int = 3,
                 position_jitter: float = 0.04) -> Tuple[List[Dict], str]:
    """A scene (list of objects: shape, color, radius and centre as fractions of the image
    side, ``mentioned`` flag; the first is the main object, and the largest one always has
    the main shape) and its caption: a :func:`relation_scene` with probability
    ``relation_prob``, else a :func:`group_scene`; with probability ``distractor_prob`` a
    distractor is added (:func:`add_distractor`)."""
    if rng.random() < relation_prob and len(shapes) > 1:
        objects, caption = relation_scene(rng, main_shape, main_color, shapes, colors,
                                          position_jitter)
    else:
        objects, caption = group_scene(rng, main_shape, main_color, max_count, position_jitter)
    if rng.random() < distractor_prob:
        add_distractor(rng, objects, main_shape, main_color, shapes, colors)
    return objects, caption


def render_scene(objects: Sequence[Dict], rng: np.random.Generator, image_size: int,
                 supersample: int = 4, rotation: float = 15.0, color_jitter: float = 25.0,
                 noise_std: float = 6.0) -> np.ndarray:
    """Draw ``objects`` (from :func:`sample_scene`) as a uint8 ``[S, S, 3]`` image: a dull
    random-colour background with a linear gradient, each object in its jittered colour and
    rotated by up to ``rotation`` degrees, drawn at ``supersample`` x the size and box-filtered
    down (anti-aliasing), plus Gaussian pixel noise of ``noise_std`` (0-255 scale)."""
    from PIL import Image, ImageDraw
    size = image_size * supersample
    # background: low saturation, mid-dark value, with a gradient in a random direction
    base = rng.uniform(60, 150)
    tint = rng.uniform(-25, 25, 3)
    bg0 = np.clip(base + tint, 0, 255)
    bg1 = np.clip(bg0 + rng.uniform(-35, 35, 3), 0, 255)
    theta = rng.uniform(0, 2 * math.pi)
    ramp = np.linspace(0, 1, image_size, dtype=np.float32)
    g = (math.cos(theta) * ramp[None, :] + math.sin(theta) * ramp[:, None])
    g = (g - g.min()) / max(float(g.max() - g.min()), 1e-6)
    bg = bg0[None, None, :] * (1 - g[..., None]) + bg1[None, None, :] * g[..., None]
    canvas = Image.fromarray(bg.astype(np.uint8)).resize((size, size), Image.BILINEAR)
    draw = ImageDraw.Draw(canvas)
    for obj in objects:
        rgb = np.clip(np.array(COLORS[obj['color']], dtype=np.float64) +
                      rng.uniform(-color_jitter, color_jitter, 3), 0, 255)
        fill = tuple(int(v) for v in rgb)
        cx, cy = obj['center'][0] * size, obj['center'][1] * size
        r = obj['radius'] * size
        shape = obj['shape']
        if shape in ('circle', 'ring'):
            box = (cx - r, cy - r, cx + r, cy + r)
            if shape == 'circle':
                draw.ellipse(box, fill=fill)
            else:
                draw.ellipse(box, outline=fill, width=max(1, int(round(r * 0.38))))
            continue
        outline, scale = _OUTLINES[shape]
        angle = math.radians(rng.uniform(-rotation, rotation))
        rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        pts = (outline * scale) @ rot.T * r + np.array([cx, cy])
        draw.polygon([tuple(p) for p in pts.tolist()], fill=fill)
    image = np.asarray(canvas.reduce(supersample), dtype=np.float32)
    if noise_std > 0:
        image = image + rng.normal(0.0, noise_std, image.shape).astype(np.float32)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)
