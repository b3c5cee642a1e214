# configs/experiments/crossmodal_2d3d.py with 3 seeds per student (the teacher once): mean and
# standard deviation of every student. About 3 times the single-seed budget (the 12 student runs
# took 21 min here on 2 cores shared with other training jobs).
# `python tools/run_experiment.py configs/experiments/crossmodal_2d3d_3seeds.py`
_base_ = ['./crossmodal_2d3d.py']
work_dir = 'work_dirs/experiments/crossmodal_2d3d_3seeds'
seeds = [0, 1, 2]
