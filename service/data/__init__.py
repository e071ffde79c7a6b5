"""The labelled chat messages the reference service ships with (generated, never downloaded)."""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
TRAIN_FILE = "train.csv"
EVAL_FILE = "eval_labelled.csv"
SUBMISSION_FILE = "sample_submission.csv"
