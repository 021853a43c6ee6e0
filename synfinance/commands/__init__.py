"""The `synfinance` sub-commands, one module per command group."""
