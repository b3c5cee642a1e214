# The student trained alone for the patient budget (60 epochs), the fair baseline of function
# matching.
_base_ = ['./cnn_student_fmnist.py', '../_base_/schedules/fashion_mnist_student_60e.py']
