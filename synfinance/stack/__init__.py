"""The embedded local stack: a real Kafka broker (KRaft, jars from Maven Central) and a throwaway
PostgreSQL cluster, started and stopped by PID, for machines without a Docker engine."""
