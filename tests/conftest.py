"""Suite-wide fixtures: real servers, started once per run (see fix_db, fix_broker)."""

pytest_plugins = ["tests.fix_db", "tests.fix_broker"]
