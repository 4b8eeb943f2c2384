"""What runs only in Lambda: the handler. The bundle holds this, the core and the adapters."""
