"""Pictures of samples: RGB arrays (for TensorBoard), PNG files and GIFs."""

import csv
import math

from etils import epath
import matplotlib

matplotlib.use("Agg")  # Headless: runs write files, they never open windows.
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np
import PIL.Image


# Matplotlib's default cycle without its red, which marks the real modes.
_MEMBER_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:purple",
                   "tab:brown", "tab:pink", "tab:gray", "tab:olive", "tab:cyan")


def mixture_scatter(samples: np.ndarray, modes: np.ndarray, std: float, *,
                    title: str = "", size_px: int = 480,
                    members: np.ndarray | None = None) -> np.ndarray:
    """Generated 2-D points over the real modes, as a `(H, W, 3)` uint8 image.

    Each mode is drawn as a circle of radius 3 std, the high-quality region, so
    a reader sees at a glance which modes are covered and how tightly. With
    `members` (the ensemble member that drew each sample), each member's
    points have their own colour.
    """
    dpi = 100
    fig, ax = plt.subplots(figsize=(size_px / dpi, size_px / dpi), dpi=dpi)
    finite = np.all(np.isfinite(samples), axis=1)
    if members is None:
        ax.scatter(samples[finite, 0], samples[finite, 1], s=2, alpha=0.4,
                   color="tab:blue", label="generated")
    else:
        for member in np.unique(members):
            drawn = finite & (members == member)
            ax.scatter(samples[drawn, 0], samples[drawn, 1], s=2, alpha=0.4,
                       color=_MEMBER_COLOURS[member % len(_MEMBER_COLOURS)],
                       label=f"member {member}")
    for mode in modes:
        ax.add_patch(plt.Circle(mode, 3 * std, fill=False, color="tab:red", lw=1))
    ax.scatter(modes[:, 0], modes[:, 1], marker="x", color="tab:red", s=20,
               label="real modes (3 std circles)")
    extent = np.abs(modes).max() * 1.5 + 1.0
    ax.set(xlim=(-extent, extent), ylim=(-extent, extent), aspect="equal",
           title=title)
    ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return image


def save_png(image: np.ndarray, path: epath.PathLike) -> None:
    """Writes a `(H, W, 3)` uint8 image."""
    path = epath.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        plt.imsave(f, image, format="png")


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Images in [-1, 1] (the generator's range) to uint8 RGB, `(..., H, W, 3)`."""
    images = np.asarray(images, np.float32)
    pixels = np.clip(np.round((np.nan_to_num(images) + 1.0) * 127.5), 0, 255)
    pixels = pixels.astype(np.uint8)
    if pixels.shape[-1] == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
    return pixels


def image_grid(images: np.ndarray, num_rows: int, num_columns: int, *,
               padding: int = 2, min_cell: int = 32) -> np.ndarray:
    """Tiles `(num_rows * num_columns, H, W, C)` images in [-1, 1], row-major.

    Cells smaller than `min_cell` pixels are enlarged by an integer factor
    (nearest neighbour), so a grid of 28x28 digits stays legible on screen.

    Returns:
      A `(H', W', 3)` uint8 image with a gray border between cells.
    """
    if len(images) != num_rows * num_columns:
        raise ValueError(f"A {num_rows}x{num_columns} grid needs "
                         f"{num_rows * num_columns} images, got {len(images)}.")
    pixels = to_uint8(images)
    scale = max(1, -(-min_cell // max(pixels.shape[1:3])))
    pixels = pixels.repeat(scale, axis=1).repeat(scale, axis=2)
    height, width = pixels.shape[1:3]
    grid = np.full((num_rows * (height + padding) + padding,
                    num_columns * (width + padding) + padding, 3), 128, np.uint8)
    for index, image in enumerate(pixels):
        row, column = divmod(index, num_columns)
        top = padding + row * (height + padding)
        left = padding + column * (width + padding)
        grid[top:top + height, left:left + width] = image
    return grid


def save_gif(frames: list[np.ndarray], path: epath.PathLike, *,
             frame_ms: int = 400, last_frame_ms: int = 2000) -> None:
    """Writes `(H, W, 3)` uint8 frames as a looping GIF; the last frame lingers."""
    if not frames:
        raise ValueError("save_gif needs at least one frame.")
    path = epath.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [PIL.Image.fromarray(frame) for frame in frames]
    durations = [frame_ms] * (len(images) - 1) + [last_frame_ms]
    with path.open("wb") as f:
        images[0].save(f, format="GIF", save_all=True, append_images=images[1:],
                       duration=durations, loop=0)


def read_png(path: epath.PathLike) -> np.ndarray:
    """A PNG file as a `(H, W, 3)` uint8 array."""
    with epath.Path(path).open("rb") as f:
        return np.asarray(PIL.Image.open(f).convert("RGB"))


def save_samples(images: np.ndarray, labels: np.ndarray | None,
                 out: epath.Path) -> list[str]:
    """`000000.png`, ... at the images' resolution, `grid.png` of all of
    them, and `labels.csv` (file, label) when there are labels. Returns the
    images' file names."""
    out.mkdir(parents=True, exist_ok=True)
    pixels = to_uint8(images)
    grayscale = images.shape[-1] == 1
    names = [f"{i:06d}.png" for i in range(len(images))]
    for name, image in zip(names, pixels):
        picture = PIL.Image.fromarray(image[..., 0] if grayscale else image)
        with (out / name).open("wb") as f:
            picture.save(f, format="PNG")
    if labels is not None:
        with (out / "labels.csv").open("w") as f:
            writer = csv.writer(f)
            writer.writerow(["file", "label"])
            writer.writerows(zip(names, labels.tolist()))
    columns = math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / columns)
    blank = -np.ones((rows * columns - len(images), *images.shape[1:]), images.dtype)
    save_png(image_grid(np.concatenate([images, blank]), rows, columns),
             out / "grid.png")
    return names


def captioned_strip(rows: list[np.ndarray], row_names: list[str],
                    captions: list[str], *, cell_inches: float = 0.9) -> np.ndarray:
    """Rows of equally many images in [-1, 1] as one picture, a caption over
    each column and a name before each row: `(H, W, 3)` uint8.

    Args:
      rows: `(n, H, W, C)` arrays, one per row, column j of each row showing
        the same item (e.g. a query and its reconstruction).
      row_names: one per row.
      captions: one per column.
    """
    num_columns = len(captions)
    if any(len(row) != num_columns for row in rows) or len(row_names) != len(rows):
        raise ValueError(f"captioned_strip needs {len(row_names)} rows of "
                         f"{num_columns} images; got rows of "
                         f"{[len(row) for row in rows]}.")
    dpi = 100
    fig, axes = plt.subplots(len(rows), num_columns, squeeze=False, dpi=dpi,
                             figsize=(cell_inches * num_columns + 0.8,
                                      cell_inches * len(rows) + 0.5))
    for r, (row, name) in enumerate(zip(rows, row_names)):
        for c, image in enumerate(to_uint8(row)):
            axis = axes[r][c]
            axis.imshow(image, interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            if r == 0:
                axis.set_title(captions[c], fontsize=6)
            if c == 0:
                axis.set_ylabel(name, fontsize=7)
    fig.tight_layout(pad=0.2)
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return image
