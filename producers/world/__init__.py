"""The fixed world the generator draws from: cities, calendar, merchant categories, payment rails, declines,
personas."""
