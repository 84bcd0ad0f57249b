"""`create_project`, `demo_project` and `run_worker`."""
