"""What every component shares: settings, errors, topic names, dead-letter headers, the
schema-registry client.

Producers, processors and sinks import this package and `synfinance.schemas`, never the shell
(`synfinance.cli`, `synfinance.commands`, `synfinance.stack`, `synfinance.testing`) and never each other.
It imports nothing of ours but itself.
"""
