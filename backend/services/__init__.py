"""Business operations as plain functions: callable from views, the CLI, workers and tests."""
