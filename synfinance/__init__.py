"""synfinance package."""
