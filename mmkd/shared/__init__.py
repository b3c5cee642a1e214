"""Helpers shared by the models and metrics of several packages, below the distillation core:
classifier outputs and blocks (:mod:`.classifier`), accuracy (:mod:`.accuracy`), soft-label
statistics (:mod:`.soft_labels`), label-scarce training sets (:mod:`.label_subsets`), and
pretrained networks from other libraries (:mod:`.pretrained`) with their own input pipelines
(:mod:`.model_inputs`)."""
