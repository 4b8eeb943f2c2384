"""The pure core: events in, outcomes out. Runs everywhere; imports the standard library only."""
