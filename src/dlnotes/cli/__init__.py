"""Command-line entry points: dlnotes-train."""
