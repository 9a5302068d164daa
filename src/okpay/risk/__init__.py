"""Risk controls (风险控制): rules as data, features kept as money moves, decisions, backtests."""
