"""What every room shares in a process: locks, Prefect concurrency limits, cancel flags, small
state files."""
