"""shipshape: keeps a merchant's order, payment and shipping systems telling the same story."""

__version__ = "0.1.0"
