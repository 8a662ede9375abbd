"""The losses as the official UniTSFace head computes them, in PyTorch (shared by the comparison
scripts): USS-m per pair over the memory at a fixed bias, with the official clamp, and CosFace
over learnable weights. Importing this module sets no thread count: the caller does, before
torch is imported."""
import numpy as np
import torch
import torch.nn.functional as F


def load_inputs(path, B, C, D):
    """What bench_losses_cli --dump writes: x float32 B x D, labels int64 B, references
    float32 C x D (raw little-endian), as tensors."""
    raw = open(path, "rb").read()
    nx, ny = B * D * 4, B * 8
    x = torch.from_numpy(np.frombuffer(raw[:nx], dtype=np.float32).reshape(B, D).copy())
    y = torch.from_numpy(np.frombuffer(raw[nx:nx + ny], dtype=np.int64).copy())
    r = torch.from_numpy(np.frombuffer(raw[nx + ny:], dtype=np.float32).reshape(C, D).copy())
    return x, y, r


def torch_uss(x, y, memory, s=64.0, m=0.1, b=30.0):
    cos = F.linear(F.normalize(x, eps=1e-5), F.normalize(memory, eps=1e-5))
    one_hot = torch.zeros_like(cos, dtype=torch.bool)
    one_hot.scatter_(1, y.view(-1, 1), True)
    zp = (s * (cos - m) - b).clamp(-s, s)
    zn = (s * cos - b).clamp(-s, s)
    loss = torch.where(one_hot, F.softplus(-zp), F.softplus(zn))
    return loss.sum(dim=1).mean()


def torch_cosface(x, y, weight, s=64.0, m=0.4):
    cos = F.linear(F.normalize(x, eps=1e-5), F.normalize(weight, eps=1e-5))
    one_hot = torch.zeros_like(cos)
    one_hot.scatter_(1, y.view(-1, 1), 1.0)
    return F.cross_entropy(s * (cos - m * one_hot), y)
