"""The team API: self-service registration, a team's own status, key rotation, badges.

``teamapi.service`` holds the functions (no HTTP in them), called by the FastAPI app in
``teamapi.app`` and by the dashboard's Register and My team pages alike.
"""
