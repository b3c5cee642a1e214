"""Helpers shared by the models and metrics of several packages, below the distillation core:
classifier outputs and blocks (:mod:`.classifier`) and accuracy (:mod:`.accuracy`)."""
