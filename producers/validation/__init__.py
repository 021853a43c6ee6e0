"""The stream's quality report (`synfinance validate`, issue #14): what a consumer of our records can check.

- `columns`: the Transaction and Label records of an offline dataset or of topics, as columns;
- `rules`: consistency rules (fields that must agree), each with its violation count;
- `targets`: calibration targets, each the figure a constant of `producers/world/` cites,
  measured on the legitimate transactions and gated at a relative tolerance;
- `report`: every rule and target, the fraud / anomaly figures and the label delays, as rows and JSON.

Nothing here reads the generator's internals: only the records, as any consumer gets them, and the
published figures the world tables cite.
"""
