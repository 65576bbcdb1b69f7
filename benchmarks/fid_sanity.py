"""Does MNIST FID rank what it should? Real halves << a trained GAN << noise.

    python benchmarks/fid_sanity.py --classifier=classifiers/mnist \
        --runs=runs/dcgan_mnist,runs/cgan_mnist

Reads the offline MNIST test split (`../shared/data/mnist`, 10,000 images),
featurises it with the MNIST classifier, and prints FID (and KID) of
  - its even-indexed half against its odd-indexed half (5,000 vs 5,000),
  - 5,000 real images against 5,000 images of uniform noise in [-1, 1],
  - 5,000 real images against 5,000 samples of each run's EMA generator,
and for conditional runs how often the classifier reads the requested digit.
"""

from absl import app
from absl import flags
import jax
import numpy as np

from gan_jax import defaults
from gan_jax import train
from gan_jax.data import input_pipeline
from gan_jax.evaluation import evaluator
from gan_jax.evaluation import sampling
from gan_jax.metrics import features as features_lib
from gan_jax.metrics import suite

_CLASSIFIER = flags.DEFINE_string("classifier", defaults.MNIST_CLASSIFIER_DIR,
                                  "The MNIST classifier directory.")
_RUNS = flags.DEFINE_list("runs", [], "Training run directories to score.")
_DATA_PATH = flags.DEFINE_string("data_path", defaults.OFFLINE_MNIST_DIR,
                                 "The folder of MNIST IDX files.")
_NUM = 5_000


def main(argv):
    del argv
    extractor = features_lib.create("mnist_classifier", _CLASSIFIER.value)
    data = defaults.base_config().data
    data.update(source="idx", path=_DATA_PATH.value, split="test")
    images = np.concatenate(list(evaluator.real_image_batches(
        input_pipeline.load(data).dataset, 2 * _NUM)))
    real = features_lib.extract_all(extractor, [images])
    key = jax.random.key(0)

    def score(name, fake, reference=None):
        reference = reference or {k: v[:_NUM] for k, v in real.items()}
        result = suite.compute(reference, fake, metrics=("fid", "kid"), key=key)
        print(f"{name:<40} FID {result['fid']:10.3f}   KID {result['kid']:.5f}")

    print(f"MNIST classifier features, {_NUM} real images vs {_NUM} others")
    score("real (even half) vs real (odd half)",
          {k: v[1::2] for k, v in real.items()},
          reference={k: v[0::2] for k, v in real.items()})
    noise = np.random.default_rng(0).uniform(-1, 1, images[:_NUM].shape)
    score("real vs uniform noise",
          features_lib.extract_all(extractor, [noise.astype(np.float32)]))
    for workdir in _RUNS.value:
        run = train.restore_trained(workdir)
        labels = None
        if run.spec.model.num_classes:
            labels = sampling.balanced_labels(_NUM, run.spec.model.num_classes)
        fake = sampling.generate(run.state, jax.random.key(1), _NUM,
                                 latent_dim=run.spec.model.latent_dim,
                                 batch_size=500, labels=labels)
        fake_features = features_lib.extract_all(extractor, [fake])
        score(f"real vs {workdir} (step {run.step})", fake_features)
        if labels is not None:
            read = np.argmax(fake_features["probabilities"], axis=1)
            print(f"{'':<40} classifier reads the requested digit in "
                  f"{100 * np.mean(read == labels):.1f}% of samples")


if __name__ == "__main__":
    app.run(main)
