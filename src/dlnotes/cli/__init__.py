"""Command-line entry points: dlnotes-train and dlnotes-report."""
