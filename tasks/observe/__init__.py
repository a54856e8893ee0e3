"""What the pipeline tells: Prefect events, live metrics and alerts, the weekly report."""
