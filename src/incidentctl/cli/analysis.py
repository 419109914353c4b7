"""Analysis and data movement: report, export and import."""
