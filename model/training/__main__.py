"""``python -m model.training {arca,composer,lasr,tower}``: see ``model.training.train``."""

from model.training.train import main

main()
