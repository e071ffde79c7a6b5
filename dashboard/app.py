"""Entry script: ``streamlit run dashboard/app.py`` (or ``clfwatch dashboard``).

Declares the navigation; each page lives in ``app_pages/`` and holds UI only.
"""

from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from core.logs import setup_logging

PAGES_DIR = Path(__file__).resolve().parent / "app_pages"
PAGES = (
    # (file, title, icon, default)
    ("scoreboard.py", "Scoreboard", ":material/leaderboard:", True),
    ("team.py", "Team", ":material/monitoring:", False),
    ("stress.py", "Stress", ":material/bolt:", False),
    ("drift.py", "Drift", ":material/trending_up:", False),
    ("live.py", "Live", ":material/speed:", False),
    ("register.py", "Register", ":material/how_to_reg:", False),
    ("my_team.py", "My team", ":material/badge:", False),
    ("admin.py", "Admin", ":material/admin_panel_settings:", False),
)

setup_logging()
st.set_page_config(page_title="clfwatch", page_icon=":material/visibility:", layout="wide")

pages = []
for filename, title, icon, default in PAGES:
    path = PAGES_DIR / filename
    if not path.exists():  # a page another change has not landed yet: the rest still work
        logging.getLogger(__name__).warning("event=page_missing file=%s", filename)
        continue
    pages.append(st.Page(path, title=title, icon=icon, default=default))
st.navigation(pages).run()
