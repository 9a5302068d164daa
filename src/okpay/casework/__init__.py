"""Casework: the one place where support, wallet and identity meet (the agent's customer panel)."""
