"""Durable background work: a jobs table, leases, and the steps workers run."""
