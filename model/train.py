"""Alias of ``python -m model.training`` (the command older notes quote)."""

from model.training.train import main

if __name__ == "__main__":
    main()
