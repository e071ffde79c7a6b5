"""The ten stress scenarios and their runner. Locust runs only in ``stress.locust_job`` subprocesses."""
