"""Evaluation metrics: pure functions of samples or feature arrays.

`features/` holds the networks that turn images into those arrays (the MNIST
classifier, InceptionV3); no metric knows which generator made the samples.
"""
