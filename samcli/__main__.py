"""``python -m samcli``."""

from samcli.cli import main

if __name__ == "__main__":
    main()
