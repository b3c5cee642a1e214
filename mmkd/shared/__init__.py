"""Helpers shared by the models and metrics of several packages, below the distillation core:
classifier outputs and blocks (:mod:`.classifier`), accuracy (:mod:`.accuracy`), soft-label
statistics (:mod:`.soft_labels`) and label-scarce training sets (:mod:`.label_subsets`)."""
