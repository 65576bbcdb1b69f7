"""Pictures of samples, as RGB arrays (for TensorBoard) and PNG files."""

from etils import epath
import matplotlib

matplotlib.use("Agg")  # Headless: runs write files, they never open windows.
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np


def mixture_scatter(samples: np.ndarray, modes: np.ndarray, std: float, *,
                    title: str = "", size_px: int = 480) -> np.ndarray:
    """Generated 2-D points over the real modes, as a `(H, W, 3)` uint8 image.

    Each mode is drawn as a circle of radius 3 std, the high-quality region, so
    a reader sees at a glance which modes are covered and how tightly.
    """
    dpi = 100
    fig, ax = plt.subplots(figsize=(size_px / dpi, size_px / dpi), dpi=dpi)
    finite = np.all(np.isfinite(samples), axis=1)
    ax.scatter(samples[finite, 0], samples[finite, 1], s=2, alpha=0.4,
               color="tab:blue", label="generated")
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
