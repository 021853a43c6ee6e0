"""Scoring a fraud engine's decisions against the stream's ground truth (`synfinance evaluate`).

Pure numpy parts: `decisions` (what a decision record may hold), `joined` (decisions x transactions x
final labels), `curves` (ROC / PR), `scoreboard` (every metric, per fraud type / anomaly type / overall),
`svg` and `report` (the self-contained HTML report). `reader` is the one Kafka part: it consumes the
transactions, labels and decisions topics into a `joined.Observed`.
"""
