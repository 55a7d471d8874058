"""Read models for the console (and any client): per-source overview, run history with progress,
redaction summaries, receipt checks. Ids and counts only, never record content."""
