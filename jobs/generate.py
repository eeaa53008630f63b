"""Entry point for the synthetic population writer (same arguments as ``casefind generate``)."""
import sys

from engine.cli import main

if __name__ == "__main__":
    sys.exit(main(["generate", *sys.argv[1:]]))
