"""Pages, figures, templates, run folders and the reports index."""
