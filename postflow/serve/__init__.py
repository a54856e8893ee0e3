"""What ``postflow up`` runs: a Prefect server if none, the deployments, warm ingests, the live
sensor."""
