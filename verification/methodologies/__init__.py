"""One module per methodology; each pairs with a parameter table in verification/data."""
