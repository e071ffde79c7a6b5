"""The reference service's trained model, for the "all ten pass" test."""

from tests.reference import trained_model_dir  # noqa: F401 - a fixture, imported to be found
