"""Accounts in several currencies, the double-entry ledger, and the operations that move money."""
