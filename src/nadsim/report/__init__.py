"""Reports and plots (matplotlib, headless)."""
