"""Backups and point-in-time restores on barman, run as a tool (docs/backups.md)."""
