"""Dashboard pages: UI only; data comes from ``dashboard.data``."""
