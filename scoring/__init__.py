"""The grade: rules as data, pure point functions, and the scoreboard built from storage aggregates.

``scoring.rules`` and ``scoring.points`` are pure (numbers in, numbers out). ``scoring.board`` is
the one module that calls storage queries (handed a session) and reads the baseline file.
"""
