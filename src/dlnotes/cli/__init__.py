"""Command-line entry points: dlnotes-train, dlnotes-report and dlnotes-bench."""
