"""OKPay: an e-wallet with its own customer-service centre."""

__version__ = "0.1.0"
