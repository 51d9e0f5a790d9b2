"""``python -m nadsim``."""

from nadsim.cli import main

main()
