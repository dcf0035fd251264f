"""PostgreSQL: the system of record for everything a person reads."""
