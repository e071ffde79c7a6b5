"""What every part of clfwatch shares: settings, the classifier contract, logging, the base error.

This is the bottom layer: it imports no other clfwatch package, and every other package may
import it (the layers are checked by import-linter, see ``[tool.importlinter]``).
"""
