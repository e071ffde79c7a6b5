"""Alerts: incidents from probe results, and messages about them through Apprise.

``tracker`` decides (pure, no I/O); ``messages`` words the messages (pure); ``sender`` delivers
them in the background with bounded retries; ``hub`` joins them to the prober and storage;
``channels`` checks and masks the Apprise URLs that users register.
"""
