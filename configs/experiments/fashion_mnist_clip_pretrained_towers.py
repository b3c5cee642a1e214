# A CLIP student on Fashion-MNIST captions taught by real pretrained towers that are not CLIP
# models: its text tower from all-MiniLM-L6-v2's sentence embeddings, its image tower from
# EfficientNet-Lite0's ImageNet features, and both; against the same student trained alone.
# Zero-shot top-1 with prompts held out from training, 3 seeds, the epoch chosen on validation.
# The two teachers are read from one teacher-output cache (written by the first distilled run).
work_dir = 'work_dirs/experiments/fashion_mnist_clip_pretrained_towers'
metric = 'zeroshot/top1'
extra_metrics = ('retrieval/mean_R@1',)
seeds = [0, 1, 2]
VLM = 'configs/vlm'
runs = [
    dict(name='scratch', config=f'{VLM}/clip_student_fmnist.py', reuse=True),
    dict(name='text tower from MiniLM', config=f'{VLM}/minilm_text_kd_clip_fmnist.py', reuse=True),
    dict(name='image tower from EfficientNet', config=f'{VLM}/effnet_image_kd_clip_fmnist.py',
         reuse=True),
    dict(name='both towers', config=f'{VLM}/two_towers_kd_clip_fmnist.py', reuse=True),
]
