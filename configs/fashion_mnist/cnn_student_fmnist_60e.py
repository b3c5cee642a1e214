# The student trained alone for the patient budget (60 epochs), the fair baseline of function
# matching.
_base_ = ['../_base_/fashion_mnist.py', '../_base_/schedules/fashion_mnist_student_60e.py']
model = dict(type='ConvClassifier', channels=(4, 8, 16), convs_per_stage=1)
