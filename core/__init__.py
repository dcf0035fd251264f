"""Cross-cutting infrastructure: settings, logging, Temporal client, the embedded dev stack."""
