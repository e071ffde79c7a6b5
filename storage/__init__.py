"""Storage: the only package that knows table layouts. Others call its functions."""
