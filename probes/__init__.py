"""Scheduled health and predict probing of every registered target.

Every number on the scoreboard starts as a probe row written here, so the prober keeps
going through any fault of a target or of the database and never loses a row.
"""
