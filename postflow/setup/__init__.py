"""What setup writes to Prefect: block documents, the OAuth login, the automations."""
