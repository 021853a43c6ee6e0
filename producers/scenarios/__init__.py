"""Fraud scenarios: one table of parameters (`specs`), one planner per type (`planners`, each handed a
`plan`), and the engine that schedules them to hit the configured fraud rate and type mix (`engine`)."""
