"""The reference classifier: shipped data, model training and the hardened HTTP service."""
