"""Operator work outside Lambda: the worker, DLQ replay, backfill and check.

Runs in an operator's shell, a container or a reconcile job; imports the core and adapters.
"""
