"""The files of a trained model's folder, apart from ``service.model``: a caller that only looks
whether a model is there (``clfwatch up``) then imports no scikit-learn, SciPy or pandas
(about 1.5 CPU-s)."""

MODEL_FILE = "model.joblib"
METADATA_FILE = "model.json"
