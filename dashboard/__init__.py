"""The Streamlit dashboard: scoreboard, team pages, stress, drift, live metrics, admin."""
