"""Fees: a provider interface and its providers (counter, 定額小為替, card gateway)."""
