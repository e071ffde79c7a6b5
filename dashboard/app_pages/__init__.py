"""Dashboard pages: UI only; data comes from the modules beside this package
(``dashboard.scoreboard``, ``dashboard.targets``, ...)."""
