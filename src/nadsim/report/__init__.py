"""Reports and plots (matplotlib, headless)."""

#: the package's parts are its modules: ``plots`` (figures), and the private data contract,
#: figure helpers and HTML reports used by the CLI, the web page and the trial report
__all__: list[str] = []
