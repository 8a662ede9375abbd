"""Tests of the PyTorch bridge (unitsface_torch), with unittest (no pytest needed).

Run: PYTHONPATH=<build>/python /usr/bin/python3 python/tests/test_torch_bridge.py
(CTest: torch.bridge). The oracle is independent of the library: every loss is written here
the PyTorch way (plain torch ops in float64, autograd for the gradients), from the formulas
of docs/losses.md and the official UniTSFace semantics; the project's reference vectors
(tests/data/vectors, produced by the official code) are compared as well.
"""

import glob
import json
import math
import os
import unittest

import torch
import torch.nn.functional as F

import unitsface_torch as uft
from unitsface_torch.functional import (BinaryOptions, EmbeddedOptions, HeadOptions,
                                        SSSoftmaxOptions)

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.environ.get("UNITSFACE_VECTORS_DIR",
                         os.path.join(HERE, "..", "..", "tests", "data", "vectors"))
F64 = torch.float64


# ---- the oracle: plain PyTorch, float64 ------------------------------------------------------

def normalize(t):
    return t / t.norm(dim=1, keepdim=True).clamp_min(1e-5)  # F.normalize(eps=1e-5)


def softplus(z):
    return torch.logaddexp(torch.zeros_like(z), z)  # exact for every z (F.softplus is not)


def pair_masks(x, labels, refs, valid):
    """Cosines and positive / negative masks; refs None: in-batch pairs (j != i)."""
    xn = normalize(x)
    if refs is None:
        cos = xn @ xn.t()
        ref_labels = labels
        take = ~torch.eye(len(labels), dtype=torch.bool)
    else:
        cos = xn @ normalize(refs).t()
        ref_labels = torch.arange(refs.shape[0])
        take = torch.ones_like(cos, dtype=torch.bool)
        if valid is not None:
            take = take & valid.bool()[None, :]
    same = labels[:, None] == ref_labels[None, :]
    return cos, same & take, ~same & take


def reduce(per_anchor, reduction):
    if reduction == "mean":
        return per_anchor.mean()
    if reduction == "sum":
        return per_anchor.sum()
    return per_anchor


def masked_lse(z, mask):
    return torch.logsumexp(torch.where(mask, z, torch.full_like(z, -math.inf)), dim=1)


def oracle_bias_init(x, labels, refs, valid, s):
    """Official: mean over the anchors with a negative of logsumexp_n(s c_in), no gradient."""
    with torch.no_grad():
        cos, _, neg = pair_masks(x, labels, refs, valid)
        has = neg.any(dim=1)
        return masked_lse(s * cos, neg)[has].mean()


def oracle_binary(x, labels, refs, valid, b, s, m, form="per_pair", clamp=True,
                  reduction="mean"):
    """USS (b: one value) or SS-BCE (b: one per memory row: b_{y_i} on the positive, b_j on
    negative j)."""
    cos, pos, neg = pair_masks(x, labels, refs, valid)
    if b.numel() > 1:
        b_pos, b_neg = b[labels][:, None], b[None, :]
    else:
        b_pos = b_neg = b.reshape(())
    u = s * (cos - m) - b_pos  # the positive logit
    v = s * cos - b_neg  # the negative logits
    if form == "per_pair":
        if clamp:
            u, v = u.clamp(-s, s), v.clamp(-s, s)
        zero = torch.zeros_like(u)
        per = torch.where(pos, softplus(-u), zero).sum(1) + torch.where(neg, softplus(v),
                                                                        zero).sum(1)
    else:
        lp, ln = masked_lse(-u, pos), masked_lse(v, neg)
        per = softplus(lp) + softplus(ln)
    return reduce(per, reduction)


def oracle_ss_softmax(x, labels, refs, valid, s, m, reduction="mean"):
    cos, pos, neg = pair_masks(x, labels, refs, valid)
    lse_n = masked_lse(s * cos, neg)  # every anchor here has a negative
    terms = softplus(lse_n[:, None] - s * cos + s * m)  # log(1 + sum_n e^{s(c_in - c_ip + m)})
    count = pos.sum(1)
    per = torch.where(pos, terms, torch.zeros_like(terms)).sum(1) / count.clamp_min(1)
    return reduce(per, reduction)


def oracle_head(x, labels, w, margin, s, m, policy="classic_fallback", gradient="exact",
                reduction="mean"):
    cos = normalize(x) @ normalize(w).t()
    onehot = F.one_hot(labels, w.shape[0]).bool()
    c = cos[onehot]
    if margin == "cosface":
        target = c - m
    else:
        sine = torch.sqrt((1 - c * c).clamp_min(0))
        arc = c * math.cos(m) - sine * math.sin(m)  # cos(theta + m)
        if policy == "classic_fallback":
            target = torch.where(c > math.cos(math.pi - m), arc, c - m * math.sin(math.pi - m))
        elif policy == "easy_margin":
            target = torch.where(c > 0, arc, c)
        else:
            target = arc
        if gradient == "straight_through":
            target = c + (target - c).detach()  # insightface: the margin under no_grad
    logits = s * cos.masked_scatter(onehot, target)
    return F.cross_entropy(logits, labels, reduction=reduction)


def oracle_memory_write(memory, valid, x, labels, momentum=0.0):
    memory, valid = memory.clone(), valid.clone()
    last = {int(y): i for i, y in enumerate(labels)}  # the last occurrence wins
    for y, i in last.items():
        if momentum > 0 and valid[y]:
            memory[y] = momentum * memory[y] + (1 - momentum) * x[i]
        else:
            memory[y] = x[i]
        valid[y] = 1
    return memory, valid


# ---- helpers ---------------------------------------------------------------------------------

def rel_err(got, expected):
    got = torch.as_tensor(got, dtype=F64)
    expected = torch.as_tensor(expected, dtype=F64)
    scale = expected.abs().max().item()
    return (got - expected).abs().max().item() / (scale if scale > 0 else 1.0)


def upstream(value):
    """An upstream gradient other than ones: d outer / d loss (or loss_i for "none")."""
    return torch.linspace(0.5, 2.0, value.numel(), dtype=value.dtype).reshape(value.shape)


def oracle_grads(fn, *tensors):
    """Value and autograd gradients of fn at float64 copies of the tensors."""
    leaves = [t.detach().to(F64).requires_grad_(True) for t in tensors]
    value = fn(*leaves)
    grads = torch.autograd.grad((value * upstream(value)).sum(), leaves, allow_unused=True)
    return value.detach(), [g if g is not None else torch.zeros_like(t)
                            for g, t in zip(grads, leaves)]


def bridge_grads(fn, *tensors):
    leaves = [t.detach().clone().requires_grad_(True) for t in tensors]
    value = fn(*leaves)
    (value * upstream(value)).sum().backward()
    return value.detach(), [t.grad for t in leaves]


def data(dtype, B=12, C=10, D=16, seed=0, spread=0.6):
    """Anchors near their identity's memory row, so the losses are in a realistic range."""
    g = torch.Generator().manual_seed(seed)
    proto = torch.randn(C, D, generator=g, dtype=F64)
    labels = torch.randint(0, C, (B,), generator=g)
    x = proto[labels] + spread * torch.randn(B, D, generator=g, dtype=F64)
    memory = proto + spread * torch.randn(C, D, generator=g, dtype=F64)
    weight = proto + spread * torch.randn(C, D, generator=g, dtype=F64)
    return x.to(dtype), labels, memory.to(dtype), weight.to(dtype)


# ---- comparisons with the oracle -------------------------------------------------------------

class OracleComparison(unittest.TestCase):
    TOL = {torch.float64: 1e-10, torch.float32: 2e-4}

    def check(self, what, got, expected, dtype):
        e = rel_err(got, expected)
        self.assertLess(e, self.TOL[dtype], f"{what} ({dtype}): relative error {e:.3g}")

    def test_uss(self):
        for dtype in (torch.float64, torch.float32):
            x, labels, memory, _ = data(dtype)
            valid = torch.ones(memory.shape[0], dtype=torch.uint8)
            valid[[1, 4]] = 0
            cases = [dict(), dict(m=0.0), dict(clamp=False), dict(form="log_of_sums"),
                     dict(valid=valid), dict(reduction="sum"), dict(reduction="none"),
                     dict(in_batch=True), dict(in_batch=True, form="log_of_sums"),
                     dict(s=16.0, valid=valid, reduction="none"),
                     dict(tile_columns=3, valid=valid), dict(tile_columns=4, in_batch=True)]
            for case in cases:
                with self.subTest(dtype=dtype, **{k: str(v) for k, v in case.items()}):
                    self.compare_binary(x, labels, memory, case, dtype, torch.tensor(27.5))

    def compare_binary(self, x, labels, memory, case, dtype, bias):
        case = dict(case)
        s, m = case.pop("s", 64.0), case.pop("m", 0.1)
        valid = case.pop("valid", None)
        refs = None if case.pop("in_batch", False) else memory
        form = case.get("form", "per_pair")
        clamp = case.get("clamp", True)
        reduction = case.get("reduction", "mean")
        opts = BinaryOptions(s=s, m=m, init="fixed", **case)
        fn = uft.SSBCEFunction if bias.numel() > 1 else uft.USSFunction
        got, (gx, gb) = bridge_grads(
            lambda xx, bb: fn.apply(xx, labels, bb, refs, valid, opts)[0], x, bias.to(dtype))
        refs64 = None if refs is None else refs.to(F64)
        want, (wx, wb) = oracle_grads(
            lambda xx, bb: oracle_binary(xx, labels, refs64, valid, bb, s, m, form, clamp,
                                         reduction), x, bias)
        self.check("loss", got, want, dtype)
        self.check("grad_input", gx, wx, dtype)
        self.check("grad_bias", gb, wb, dtype)

    def test_uss_bias_initialisation(self):
        for dtype in (torch.float64, torch.float32):
            x, labels, memory, _ = data(dtype, seed=3)
            for refs in (memory, None):
                loss_fn = uft.USSLoss(dtype=dtype)
                self.assertEqual(float(loss_fn.bias), 0.0)
                loss = loss_fn(x, labels, refs)
                refs64 = None if refs is None else refs.to(F64)
                b0 = oracle_bias_init(x.to(F64), labels, refs64, None, 64.0)
                # The Parameter holds the bias the loss used, and the loss is the one there.
                self.check("bias_used", loss_fn.bias.detach(), b0, dtype)
                self.check("loss", loss.detach(),
                           oracle_binary(x.to(F64), labels, refs64, None, b0, 64.0, 0.1), dtype)
                self.assertAlmostEqual(float(loss_fn.threshold), float(loss_fn.bias) / 64.0)
                # A positive bias is kept; one pushed to <= 0 is set from the data again.
                with torch.no_grad():
                    loss_fn.bias.fill_(3.0)
                loss_fn(x, labels, refs)
                self.assertEqual(float(loss_fn.bias), 3.0)
                with torch.no_grad():
                    loss_fn.bias.fill_(-1.0)
                loss_fn(x, labels, refs)
                self.check("re-initialised bias", loss_fn.bias.detach(), b0, dtype)

    def test_bias_init_modes(self):
        x, labels, memory, _ = data(F64, seed=4)
        once = uft.USSLoss(bias_init="data_dependent_once", dtype=F64)
        once(x, labels, memory)
        self.assertTrue(bool(once.bias_initialised))
        with torch.no_grad():
            once.bias.fill_(-2.0)
        once(x, labels, memory)
        self.assertEqual(float(once.bias), -2.0)  # the optimiser's, whatever its sign
        fixed = uft.USSLoss(bias_init="fixed", dtype=F64)
        fixed(x, labels, memory)
        self.assertEqual(float(fixed.bias), 0.0)
        f32 = uft.USSLoss(bias_storage="float32", dtype=F64)
        f32(x, labels, memory)
        b = float(f32.bias)
        self.assertEqual(b, float(torch.tensor(b, dtype=torch.float32)))

    def test_ss_bce(self):
        for dtype in (torch.float64, torch.float32):
            x, labels, memory, _ = data(dtype, seed=1)
            C = memory.shape[0]
            bias = 20.0 + 10.0 * torch.rand(C, generator=torch.Generator().manual_seed(5),
                                            dtype=F64)
            for case in (dict(), dict(clamp=False), dict(reduction="none")):
                with self.subTest(dtype=dtype, **case):
                    self.compare_binary(x, labels, memory, case, dtype, bias)
            # Data-dependent initialisation: mean(b) <= 0 adds the LSE mean to every b_j.
            loss_fn = uft.SSBCELoss(C, dtype=dtype)
            with torch.no_grad():
                loss_fn.bias.copy_(torch.linspace(-2, 1, C, dtype=dtype))
            loss_fn(x, labels, memory)
            want = torch.linspace(-2, 1, C, dtype=dtype).to(F64) + oracle_bias_init(
                x.to(F64), labels, memory.to(F64), None, 64.0)
            self.check("ss_bce bias_used", loss_fn.bias.detach(), want, dtype)

    def test_ss_softmax(self):
        for dtype in (torch.float64, torch.float32):
            x, labels, memory, _ = data(dtype, seed=2)
            valid = torch.ones(memory.shape[0], dtype=torch.bool)
            valid[labels[0]] = False  # anchor 0 (and its label's others) has no positive
            for refs, vld, reduction in ((memory, None, "mean"), (memory, valid, "none"),
                                         (None, None, "mean"), (None, None, "sum")):
                with self.subTest(dtype=dtype, in_batch=refs is None, reduction=reduction):
                    opts = SSSoftmaxOptions(reduction=reduction, tile_columns=3)
                    got, (gx,) = bridge_grads(
                        lambda xx: uft.SSSoftmaxFunction.apply(xx, labels, refs, vld, opts), x)
                    refs64 = None if refs is None else refs.to(F64)
                    want, (wx,) = oracle_grads(
                        lambda xx: oracle_ss_softmax(xx, labels, refs64, vld, 64.0, 0.1,
                                                     reduction), x)
                    self.check("loss", got, want, dtype)
                    self.check("grad_input", gx, wx, dtype)

    def test_heads(self):
        cases = [("cosface", dict(m=0.4)), ("cosface", dict(m=0.0)),
                 ("cosface", dict(m=0.35, reduction="none")),
                 ("arcface", dict(m=0.5)), ("arcface", dict(m=0.5, policy="none")),
                 ("arcface", dict(m=0.5, policy="easy_margin")),
                 ("arcface", dict(m=0.5, gradient="straight_through", policy="none")),
                 ("arcface", dict(m=0.5, reduction="sum")),
                 ("cosface", dict(m=0.4, tile_columns=3)),
                 ("arcface", dict(m=0.5, tile_columns=4, reduction="none"))]
        for dtype in (torch.float64, torch.float32):
            # A wide spread: some target cosines fall below cos(pi - m) (the fallback).
            x, labels, _, weight = data(dtype, seed=6, spread=2.0)
            for margin, case in cases:
                with self.subTest(dtype=dtype, margin=margin, **case):
                    opts = HeadOptions(s=64.0, **case)
                    fn = uft.CosFaceFunction if margin == "cosface" else uft.ArcFaceFunction
                    got, (gx, gw) = bridge_grads(
                        lambda xx, ww: fn.apply(xx, labels, ww, opts), x, weight)
                    want, (wx, ww_) = oracle_grads(
                        lambda xx, ww: oracle_head(xx, labels, ww, margin, 64.0, case["m"],
                                                   case.get("policy", "classic_fallback"),
                                                   case.get("gradient", "exact"),
                                                   case.get("reduction", "mean")), x, weight)
                    self.check("loss", got, want, dtype)
                    self.check("grad_input", gx, wx, dtype)
                    self.check("grad_weight", gw, ww_, dtype)

    def test_larger_batch(self):
        """Sizes where the products and loops split across threads and tiles."""
        torch.set_num_threads(2)
        x, labels, memory, weight = data(F64, B=64, C=300, D=32, seed=14)
        b = torch.tensor(30.0)
        for tile in (0, 128):
            with self.subTest(tile_columns=tile):
                opts = BinaryOptions(init="fixed", tile_columns=tile)
                got, (gx, gb) = bridge_grads(lambda xx, bb: uft.USSFunction.apply(
                    xx, labels, bb, memory, None, opts)[0], x, b.to(F64))
                want, (wx, wb) = oracle_grads(lambda xx, bb: oracle_binary(
                    xx, labels, memory, None, bb, 64.0, 0.1), x, b)
                self.check("loss", got, want, F64)
                self.check("grad_input", gx, wx, F64)
                self.check("grad_bias", gb, wb, F64)
                h = HeadOptions(tile_columns=tile)
                got, (gx, gw) = bridge_grads(lambda xx, ww: uft.CosFaceFunction.apply(
                    xx, labels, ww, h), x, weight)
                want, (wx, ww_) = oracle_grads(lambda xx, ww: oracle_head(
                    xx, labels, ww, "cosface", 64.0, 0.4), x, weight)
                self.check("loss", got, want, F64)
                self.check("grad_input", gx, wx, F64)
                self.check("grad_weight", gw, ww_, F64)

    def test_embedded(self):
        for dtype in (torch.float64, torch.float32):
            x, labels, memory, weight = data(dtype, seed=7)
            valid = torch.ones(memory.shape[0], dtype=torch.uint8)
            valid[2] = 0
            bias = torch.tensor(25.0)
            for epoch in (0, 1):
                with self.subTest(dtype=dtype, epoch=epoch):
                    opts = EmbeddedOptions(init="fixed", lam=0.7, s2s_s=32.0)
                    got, (gx, gw, gb) = bridge_grads(
                        lambda xx, ww, bb: uft.EmbeddedFunction.apply(
                            xx, labels, ww, bb, memory, valid, epoch, opts)[0],
                        x, weight, bias.to(dtype))

                    def oracle(xx, ww, bb):
                        loss = oracle_head(xx, labels, ww, "cosface", 64.0, 0.4)
                        if epoch >= 1:
                            loss = loss + 0.7 * oracle_binary(xx, labels, memory.to(F64), valid,
                                                              bb, 32.0, 0.1)
                        return loss
                    want, (wx, ww_, wb) = oracle_grads(oracle, x, weight, bias)
                    self.check("loss", got, want, dtype)
                    self.check("grad_input", gx, wx, dtype)
                    self.check("grad_weight", gw, ww_, dtype)
                    if epoch == 0:
                        self.assertEqual(float(gb), 0.0)
                    else:
                        self.check("grad_bias", gb, wb, dtype)

    def test_strided_inputs(self):
        """Views with strides (a transposed input, a column slice of the memory) are read in
        place and give the contiguous tensors' results."""
        x, labels, memory, weight = data(F64, seed=8)
        xt = x.t().contiguous().t()  # column-major
        mem_wide = torch.cat([memory, torch.randn_like(memory)], dim=1)[:, :memory.shape[1]]
        self.assertFalse(xt.is_contiguous())
        self.assertFalse(mem_wide.is_contiguous())
        opts = BinaryOptions(init="fixed")
        b = torch.tensor(27.0, dtype=F64)
        a = uft.USSFunction.apply(x, labels, b, memory, None, opts)[0]
        c = uft.USSFunction.apply(xt, labels, b, mem_wide, None, opts)[0]
        self.assertLess(rel_err(c, a), 1e-13)
        w_t = weight.t().contiguous().t()
        h = HeadOptions()
        self.assertLess(rel_err(uft.CosFaceFunction.apply(xt, labels, w_t, h),
                                uft.CosFaceFunction.apply(x, labels, weight, h)), 1e-13)
        strided_labels = torch.stack([labels, labels], dim=1)[:, 0]
        self.assertFalse(strided_labels.is_contiguous())
        self.assertLess(rel_err(uft.CosFaceFunction.apply(x, strided_labels, weight, h),
                                uft.CosFaceFunction.apply(x, labels, weight, h)), 1e-15)


class GradCheck(unittest.TestCase):
    """torch.autograd.gradcheck on the float64 path (central differences against backward)."""

    def setUp(self):
        self.x, self.labels, self.memory, self.weight = data(F64, B=6, C=5, D=7, seed=9)
        self.x.requires_grad_(True)
        self.weight.requires_grad_(True)

    def gradcheck(self, fn, *inputs):
        self.assertTrue(torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-7, rtol=1e-6))

    def test_uss(self):
        b = torch.tensor(20.0, dtype=F64, requires_grad=True)
        for opts, refs in ((BinaryOptions(s=16.0), self.memory),
                           (BinaryOptions(s=16.0, form="log_of_sums", reduction="none"),
                            self.memory),
                           (BinaryOptions(s=16.0, clamp=False, reduction="sum"), None)):
            with self.subTest(opts=opts, in_batch=refs is None):
                self.gradcheck(
                    lambda xx, bb: uft.USSFunction.apply(xx, self.labels, bb, refs, None,
                                                         opts)[0], self.x, b)

    def test_ss_bce(self):
        b = torch.linspace(5, 10, 5, dtype=F64).requires_grad_(True)
        opts = BinaryOptions(s=16.0)
        self.gradcheck(lambda xx, bb: uft.SSBCEFunction.apply(xx, self.labels, bb, self.memory,
                                                              None, opts)[0], self.x, b)

    def test_ss_softmax(self):
        opts = SSSoftmaxOptions(s=16.0, reduction="none")
        self.gradcheck(lambda xx: uft.SSSoftmaxFunction.apply(xx, self.labels, None, None, opts),
                       self.x)

    def test_cosface(self):
        for reduction in ("mean", "none"):
            opts = HeadOptions(s=16.0, m=0.4, reduction=reduction)
            self.gradcheck(lambda xx, ww: uft.CosFaceFunction.apply(xx, self.labels, ww, opts),
                           self.x, self.weight)

    def test_arcface(self):
        opts = HeadOptions(s=16.0, m=0.5)
        self.gradcheck(lambda xx, ww: uft.ArcFaceFunction.apply(xx, self.labels, ww, opts),
                       self.x, self.weight)

    def test_embedded(self):
        b = torch.tensor(10.0, dtype=F64, requires_grad=True)
        opts = EmbeddedOptions(s2c_s=16.0, s2s_s=16.0, init="fixed")
        self.gradcheck(lambda xx, ww, bb: uft.EmbeddedFunction.apply(
            xx, self.labels, ww, bb, self.memory, None, 1, opts)[0], self.x, self.weight, b)


class FeatureMemoryTests(unittest.TestCase):

    def test_update_in_place(self):
        for momentum in (0.0, 0.5):
            mem = uft.FeatureMemory(6, 4, momentum=momentum, dtype=F64)
            ptr, vptr = mem.rows.data_ptr(), mem.valid.data_ptr()
            g = torch.Generator().manual_seed(10)
            want_rows, want_valid = mem.rows.clone(), mem.valid.clone()
            for _ in range(3):
                x = torch.randn(5, 4, generator=g, dtype=F64)
                labels = torch.tensor([0, 2, 2, 5, 0])  # duplicates: the last one wins
                version = mem.rows._version
                mem.update(x, labels)
                want_rows, want_valid = oracle_memory_write(want_rows, want_valid, x, labels,
                                                            momentum)
                self.assertEqual(mem.rows.data_ptr(), ptr)  # the buffer itself was written
                self.assertEqual(mem.valid.data_ptr(), vptr)
                self.assertGreater(mem.rows._version, version)
                self.assertLess(rel_err(mem.rows, want_rows), 1e-15)
                self.assertTrue(torch.equal(mem.valid, want_valid))

    def test_update_invalidates_saved_memory(self):
        """The update bumps the buffer's version: a backward that saved the memory before it
        is refused by autograd instead of using the new rows."""
        x, labels, memory, _ = data(F64, seed=15)
        mem = uft.FeatureMemory(memory.shape[0], memory.shape[1], dtype=F64)
        with torch.no_grad():
            mem.rows.copy_(memory)
            mem.valid.fill_(1)
        x.requires_grad_(True)
        loss = uft.SSSoftmaxLoss(reduction="none")(x, labels, mem)  # saves the memory
        mem.update(x, labels)
        with self.assertRaisesRegex(RuntimeError, "modified by an inplace operation"):
            loss.sum().backward()

    def test_losses_read_the_buffer(self):
        """A loss reads the memory buffer as it is now (no copy taken at construction)."""
        x, labels, memory, _ = data(F64, seed=11)
        mem = uft.FeatureMemory(memory.shape[0], memory.shape[1], dtype=F64)
        loss_fn = uft.USSLoss(bias=27.0, bias_init="fixed", dtype=F64)
        with self.assertRaisesRegex(ValueError, "no memory row has been written"):
            loss_fn(x, labels, mem)
        with torch.no_grad():
            mem.rows.copy_(memory)
            mem.valid.fill_(1)
        got = loss_fn(x, labels, mem)
        want = oracle_binary(x, labels, memory, None, torch.tensor(27.0, dtype=F64), 64.0, 0.1)
        self.assertLess(rel_err(got.detach(), want), 1e-10)

    def test_embedded_module_writes_memory(self):
        x, labels, _, _ = data(F64, seed=12)
        loss_fn = uft.EmbeddedLoss(16, 10, dtype=F64)
        ptr = loss_fn.memory.rows.data_ptr()
        loss_fn(x, labels, epoch=0)
        want, _ = oracle_memory_write(torch.zeros(10, 16, dtype=F64),
                                      torch.zeros(10, dtype=torch.uint8), x, labels)
        self.assertEqual(loss_fn.memory.rows.data_ptr(), ptr)
        self.assertLess(rel_err(loss_fn.memory.rows, want), 1e-15)
        self.assertEqual(float(loss_fn.bias), 0.0)  # the warm-up: USS not used yet
        loss_fn(x, labels, epoch=1)
        self.assertGreater(float(loss_fn.bias), 0.0)  # initialised at its first use


class ReferenceVectors(unittest.TestCase):
    """The project's reference vectors (the official code's values), tolerances of their
    README: 1e-9 (float64) and 1e-4 (float32) for losses and gradients."""

    def cases(self, pattern):
        files = sorted(glob.glob(os.path.join(VECTORS, pattern)))
        if not files:
            self.skipTest(f"no reference vectors {pattern} in {VECTORS}")
        for f in files:
            with open(f) as fh:
                yield json.load(fh)

    @staticmethod
    def tensors(case):
        dtype = torch.float64 if case["dtype"] == "float64" else torch.float32
        x = torch.tensor(case["input"], dtype=dtype)
        labels = torch.tensor(case["labels"], dtype=torch.int64)
        return dtype, x, labels

    def check(self, case, field, got, dtype, tol64=1e-9, tol32=1e-4):
        e = rel_err(got, case["expected"][field])
        tol = tol64 if dtype == torch.float64 else tol32
        self.assertLess(e, tol, f"{case['name']}: {field} relative error {e:.3g}")

    def test_sample_to_sample(self):
        n = 0
        for case in self.cases("*.json"):
            if case.get("kind") not in ("uss", "ss_bce", "ss_softmax"):
                continue
            n += 1
            with self.subTest(case=case["name"]):
                dtype, x, labels = self.tensors(case)
                x.requires_grad_(True)
                memory = (torch.tensor(case["memory"], dtype=dtype)
                          if case.get("pairs", "memory") == "memory" else None)
                valid = (torch.tensor(case["valid"], dtype=torch.bool) if "valid" in case
                         else None)
                if case["kind"] == "ss_softmax":
                    loss = uft.SSSoftmaxFunction.apply(x, labels, memory, valid,
                                                       SSSoftmaxOptions(case["s"], case["m"]))
                    loss.backward()
                    self.check(case, "loss", loss.detach(), dtype)
                    self.check(case, "grad_input", x.grad, dtype)
                    continue
                fn = uft.SSBCEFunction if case["kind"] == "ss_bce" else uft.USSFunction
                kw = dict(s=case["s"], m=case["m"], form=case.get("form", "per_pair"),
                          clamp=case.get("clamp", True))
                # Loss and gradients at the bias the official code used ...
                bias = torch.tensor(case["expected"]["bias_used"], dtype=dtype)
                if case["kind"] == "uss":
                    bias = bias.reshape(())
                bias.requires_grad_(True)
                loss, _ = fn.apply(x, labels, bias, memory, valid,
                                   BinaryOptions(init="fixed", **kw))
                loss.backward()
                self.check(case, "loss", loss.detach(), dtype)
                self.check(case, "grad_input", x.grad, dtype)
                self.check(case, "grad_bias", bias.grad, dtype, 1e-6)
                # ... and the bias the library initialises itself, stored as float32.
                bias_in = torch.tensor(case["bias_in"], dtype=dtype)
                if case["kind"] == "ss_bce" and bias_in.dim() == 0:  # one value for all rows
                    bias_in = bias_in.expand(case["C"])
                _, used = fn.apply(x.detach(), labels, bias_in, memory, valid,
                                   BinaryOptions(storage="float32", **kw))
                self.check(case, "bias_used", used, dtype, 1e-6)
        self.assertGreaterEqual(n, 52)  # the project's uss, ss_bce and ss_softmax cases

    def test_sample_to_class(self):
        n = 0
        for case in self.cases("*.json"):
            if case.get("kind") not in ("cosface", "arcface"):
                continue
            n += 1
            with self.subTest(case=case["name"]):
                dtype, x, labels = self.tensors(case)
                x.requires_grad_(True)
                w = torch.tensor(case["weight"], dtype=dtype, requires_grad=True)
                opts = HeadOptions(s=case["s"], m=case["m"],
                                   policy=case.get("policy", "classic_fallback"),
                                   gradient=case.get("gradient", "exact"))
                fn = uft.CosFaceFunction if case["kind"] == "cosface" else uft.ArcFaceFunction
                loss = fn.apply(x, labels, w, opts)
                loss.backward()
                self.check(case, "loss", loss.detach(), dtype)
                self.check(case, "grad_input", x.grad, dtype)
                self.check(case, "grad_weight", w.grad, dtype)
        self.assertGreaterEqual(n, 24)  # the project's cosface and arcface cases

    def test_memory_update(self):
        for case in self.cases("memory_update_*.json"):
            dtype = torch.float64 if case["dtype"] == "float64" else torch.float32
            mem = uft.FeatureMemory(case["C"], case["D"], mask_unwritten=False, dtype=dtype)
            for k, batch in enumerate(case["batches"]):
                mem.update(torch.tensor(batch["input"], dtype=dtype),
                           torch.tensor(batch["labels"], dtype=torch.int64))
                e = rel_err(mem.rows, batch["memory_after"])
                self.assertLess(e, 1e-15 if dtype == torch.float64 else 1e-7,
                                f"{case['name']} batch {k}")

    def test_embedded_trace(self):
        for case in self.cases("embedded_trace_*.json"):
            dtype = torch.float64 if case["dtype"] == "float64" else torch.float32
            loss_fn = uft.EmbeddedLoss(case["D"], case["C"], s=case["s"],
                                       s2c_m=case["s2c"]["m"], s2s_m=case["s2s"]["m"],
                                       lambda_=case["lambda"],
                                       warmup_epochs=case["warmup_epochs"],
                                       bias_storage="float32", mask_unwritten=False, dtype=dtype)
            with torch.no_grad():
                loss_fn.weight.copy_(torch.tensor(case["weight"], dtype=dtype))
            for k, step in enumerate(case["steps"]):
                x = torch.tensor(step["input"], dtype=dtype, requires_grad=True)
                labels = torch.tensor(step["labels"], dtype=torch.int64)
                loss_fn.zero_grad()
                loss = loss_fn(x, labels, step["epoch"])
                loss.backward()
                exp = step["expected"]
                fields = [("loss", loss.detach(), 1e-9), ("grad_input", x.grad, 1e-9),
                          ("grad_weight", loss_fn.weight.grad, 1e-9),
                          ("memory_after", loss_fn.memory.rows, 1e-15)]
                if "bias_used" in exp:
                    fields += [("bias_used", loss_fn.bias.detach(), 1e-6),
                               ("grad_bias", loss_fn.bias.grad, 1e-6)]
                for field, got, tol64 in fields:
                    e = rel_err(got, exp[field])
                    tol = tol64 if dtype == torch.float64 else (1e-7 if field == "memory_after"
                                                                else 1e-4)
                    self.assertLess(e, tol, f"{case['name']} step {k}: {field} {e:.3g}")


class BadInput(unittest.TestCase):

    def setUp(self):
        self.x, self.labels, self.memory, self.weight = data(torch.float32, B=6, C=5, D=7)
        self.bias = torch.tensor(20.0)

    def uss(self, x=None, labels=None, memory="default", bias=None, opts=BinaryOptions()):
        memory = self.memory if isinstance(memory, str) else memory
        return uft.USSFunction.apply(self.x if x is None else x,
                                     self.labels if labels is None else labels,
                                     self.bias if bias is None else bias, memory, None, opts)

    def refused(self, argument, fn, contains=""):
        with self.assertRaises(ValueError) as cm:
            fn()
        msg = str(cm.exception)
        self.assertIn(f"argument '{argument}'", msg)
        self.assertIn(contains, msg)

    def test_dtypes(self):
        self.refused("input", lambda: self.uss(x=self.x.half()), "float16")
        self.refused("input", lambda: self.uss(x=self.x.to(torch.int32)), "int32")
        self.refused("memory", lambda: self.uss(memory=self.memory.double()), "float64")
        self.refused("labels", lambda: self.uss(labels=self.labels.int()), "int32")
        self.refused("bias", lambda: self.uss(bias=torch.tensor(1, dtype=torch.int64)))
        self.refused("weight", lambda: uft.CosFaceFunction.apply(
            self.x, self.labels, self.weight.double(), HeadOptions()), "float64")

    def test_shapes(self):
        self.refused("input", lambda: self.uss(x=self.x[0]), "dimension")
        self.refused("labels", lambda: self.uss(labels=self.labels[:-1]), "5 elements")
        self.refused("memory", lambda: self.uss(memory=self.memory[:, :-1]), "features")
        self.refused("labels", lambda: self.uss(labels=self.labels.reshape(2, 3)), "dimension")
        self.refused("bias", lambda: uft.SSBCEFunction.apply(
            self.x, self.labels, torch.ones(4), self.memory, None, BinaryOptions()))
        self.refused("valid", lambda: uft.USSFunction.apply(
            self.x, self.labels, self.bias, self.memory, torch.ones(4, dtype=torch.uint8),
            BinaryOptions()), "flags")
        self.refused("weight", lambda: uft.CosFaceFunction.apply(
            self.x, self.labels, self.weight[:, :3], HeadOptions()))

    def test_values(self):
        bad = self.x.clone()
        bad[1, 2] = float("nan")
        self.refused("input", lambda: self.uss(x=bad), "NaN")
        self.refused("labels", lambda: self.uss(labels=self.labels + 5), "outside")
        self.refused("labels", lambda: self.uss(labels=self.labels - 10), "outside")
        self.refused("s", lambda: self.uss(opts=BinaryOptions(s=0.0)))
        self.refused("m", lambda: self.uss(opts=BinaryOptions(m=1.5)))
        self.refused("reduction", lambda: self.uss(opts=BinaryOptions(reduction="avg")))
        self.refused("form", lambda: self.uss(opts=BinaryOptions(form="other")))
        self.refused("policy", lambda: uft.ArcFaceFunction.apply(
            self.x, self.labels, self.weight, HeadOptions(policy="x")))
        self.refused("bias_init", lambda: uft.USSLoss(bias_init="sometimes"))
        self.refused("epoch", lambda: uft.EmbeddedFunction.apply(
            self.x, self.labels, self.weight, self.bias, self.memory, None, -1,
            EmbeddedOptions()))
        mem = uft.FeatureMemory(5, 7)
        self.refused("labels", lambda: mem.update(self.x, self.labels + 5), "outside")
        self.refused("labels", lambda: mem.update(self.x, self.labels + 5, validate=False),
                     "outside")
        # An expanded memory: its rows share memory and cannot be written.
        self.refused("memory", lambda: uft.memory_update(torch.zeros(7).expand(5, 7), mem.valid,
                                                         self.x, self.labels), "stride")

    def test_devices(self):
        meta = torch.empty(6, 7, device="meta")
        self.refused("input", lambda: self.uss(x=meta), "meta")
        if torch.cuda.is_available():
            self.refused("input", lambda: self.uss(x=self.x.cuda()),
                         "CUDA tensors need the extension built with nvcc")

    def test_memory_dtype_mismatch(self):
        mem = uft.FeatureMemory(5, 7, dtype=torch.float64)
        self.refused("input", lambda: mem.update(self.x, self.labels), "float64")


class Training(unittest.TestCase):

    def test_sgd_lowers_the_loss_and_moves_the_bias(self):
        """20 SGD steps of a linear embedding with the embedded loss (CosFace + USS over the
        memory): the loss goes down and the USS bias Parameter is trained."""
        torch.manual_seed(0)
        identities, in_dim, dim, batch = 8, 24, 10, 32
        proto = torch.randn(identities, in_dim)

        def sample():
            y = torch.randint(0, identities, (batch,))
            return proto[y] + 0.8 * torch.randn(batch, in_dim), y

        model = torch.nn.Linear(in_dim, dim, bias=False)
        loss_fn = uft.EmbeddedLoss(dim, identities, s=16.0, s2c_m=0.2)
        opt = torch.optim.SGD(list(model.parameters()) + list(loss_fn.parameters()), lr=0.5)
        losses, biases = [], []
        for step in range(20):
            z, y = sample()
            loss = loss_fn(model(z), y, epoch=0 if step == 0 else 1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step >= 1:
                losses.append(float(loss))
                biases.append(float(loss_fn.bias))
        self.assertLess(sum(losses[-3:]) / 3, 0.7 * sum(losses[:3]) / 3, losses)
        self.assertNotAlmostEqual(biases[0], biases[-1], places=3)
        self.assertNotEqual(loss_fn.bias.grad, None)

    def test_uss_module_bias_is_trained(self):
        torch.manual_seed(1)
        x, labels, memory, _ = data(torch.float32, B=16, C=8, D=12, seed=13)
        x = x.requires_grad_(True)
        loss_fn = uft.USSLoss(s=16.0)
        opt = torch.optim.SGD([x, loss_fn.bias], lr=0.05)
        first = None
        for _ in range(20):
            loss = loss_fn(x, labels, memory)
            first = float(loss) if first is None else first
            b_before = float(loss_fn.bias)
            opt.zero_grad()
            loss.backward()
            opt.step()
            self.assertNotEqual(float(loss_fn.bias), b_before)
        self.assertLess(float(loss_fn(x, labels, memory)), first)


if __name__ == "__main__":
    torch.set_num_threads(2)
    unittest.main(verbosity=2)
