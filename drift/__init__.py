"""Drift computation: Evidently reports over what targets answered. The dashboard only shows them."""
