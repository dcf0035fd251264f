"""The `assetflow` command line: users, imports, demo data, audit verification, the dev stack."""
