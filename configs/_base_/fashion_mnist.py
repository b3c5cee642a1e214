# Fashion-MNIST runs: the data, validation every epoch, and the best epoch by validation top-1
# kept as best_accuracy_top1_epoch_<n>.pth beside the last two epochs (the experiment runner
# reports the test accuracy of both the best-validation and the last epoch).
_base_ = ['./default_runtime.py', './datasets/fashion_mnist.py']
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=100),
    checkpoint=dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpts=2,
                    save_best='accuracy/top1',
                    rule='greater', backend_args=dict(backend='atomic_local')))
