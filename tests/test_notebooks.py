"""The teaching notebooks run top to bottom (shortened), and stay light.

Each notebook asserts its own key claim (e.g. the learned D matches D*), so a
notebook that runs is a notebook whose claim still holds. They run in a real
Jupyter kernel with `GAN_JAX_NOTEBOOK_QUICK=1` (fewer steps) and their files in
a temporary `GAN_JAX_NOTEBOOK_WORKDIR`.
"""

import pathlib

import nbclient
import nbformat
import pytest

from gan_jax import defaults

REPO = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
# Notebooks that train on the real MNIST test split beside the checkout.
NEEDS_OFFLINE_MNIST = {"05_conditional_gan.ipynb"}


@pytest.fixture(scope="module")
def notebook_workdir(tmp_path_factory, toy_data_dir):
    # One directory for all notebooks, whose TFDS data directory is the one
    # the worker's other tests use: the toy data is prepared once.
    workdir = tmp_path_factory.mktemp("notebooks")
    (workdir / "tfds").symlink_to(toy_data_dir, target_is_directory=True)
    return workdir


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_its_claims_hold(path, notebook_workdir, monkeypatch):
    mnist = (REPO / defaults.OFFLINE_MNIST_DIR).resolve()
    if path.name in NEEDS_OFFLINE_MNIST and not mnist.is_dir():
        pytest.skip(f"{path.name} trains on the MNIST IDX files in {mnist}, "
                    "which do not exist here.")
    monkeypatch.setenv("GAN_JAX_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("GAN_JAX_NOTEBOOK_WORKDIR", str(notebook_workdir))
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3",
        resources={"metadata": {"path": str(REPO)}})
    client.execute()  # Raises CellExecutionError, with the cell, on failure.


def test_the_seven_notebooks_exist_and_the_readme_links_each():
    names = [p.name for p in NOTEBOOKS]
    assert [name[:2] for name in names] == [f"{i:02d}" for i in range(1, 8)], names
    readme = (REPO / "README.md").read_text()
    for name in names:
        assert f"(notebooks/{name})" in readme, name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    assert notebook.cells[0].cell_type == "markdown"
