"""The fixed world the generator draws from: cities, calendar, merchant catalogue, payment rails, personas."""
