"""The zoo's test environment: torchvision's operator schemas before anything imports it, and one
torch thread per process (the zoo runs under pytest-xdist on a shared machine: more threads per
process only contend)."""

import torch
import torchvision_cpu_shim  # noqa: F401

torch.set_num_threads(1)
