"""In-stream processing (SPEC §7): velocity features, merchant risk, online River fraud scores, delayed labels.

`synfinance process` runs `processors.app` (a Faust app hosting one `processors.worker.Worker` per
process). The features are `processors.features` (shared with the offline reference), the model input
`processors.model_input`, the model `processors.scoring`, per-customer state `processors.state`, merchant
risk `processors.risk` (fed by `processors.replica` through the prefix readers of `processors.wire`),
and the Kafka-free core that ties them together `processors.engine`.
"""
