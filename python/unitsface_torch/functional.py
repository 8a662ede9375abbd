"""The losses as torch.autograd.Function classes over the unitsface operators.

Each Function runs one unitsface call in its forward. With the mean or sum reduction and a
gradient needed, that call is forward_backward (the library's single walk over the
references): the gradients are kept, and backward only scales them by the incoming gradient.
With reduction "none" the forward computes the per-anchor losses and backward calls the
library's backward with the per-anchor upstream gradients (the class-weight and bias
gradients mix the anchors, so they cannot be rescaled afterwards).

The tensors are read where they lie (any strides; labels and validity flags are made
contiguous if they are not). All floating tensors of a call share the input's dtype
(float32 or float64), except the bias, which may be either; labels are int64; everything is
on the CPU. Options are passed as the frozen dataclasses below.

The trainable bias of USS and SS-BCE: the Function takes the bias tensor, evaluates the loss
at its value and returns d loss / d bias as its gradient. The official data-dependent
initialisation (``init="data_dependent"``: a bias b <= 0, or SS-BCE biases of mean <= 0, are
first set from the data) happens inside the forward, without a gradient, so the bias that
was used is returned as a second, non-differentiable output; the modules (modules.py) write
it back into their Parameter.
"""

from dataclasses import dataclass

import torch
from torch.autograd.function import once_differentiable

_ops = torch.ops.unitsface


@dataclass(frozen=True)
class BinaryOptions:
    """USS / SS-BCE options (unitsface::losses::binary_options); defaults are the official."""
    s: float = 64.0
    m: float = 0.1
    form: str = "per_pair"  # or "log_of_sums"
    clamp: bool = True  # official: the softplus argument clamped to [-s, s] (per_pair form)
    init: str = "data_dependent"  # or "fixed"
    storage: str = "caller_precision"  # or "float32" (the official .float())
    reduction: str = "mean"  # "sum", "none"
    tile_columns: int = 0  # references per tile; 0: the library's default
    validate: bool = True  # also check labels and NaN/Inf (shapes are always checked)


@dataclass(frozen=True)
class SSSoftmaxOptions:
    s: float = 64.0
    m: float = 0.1
    reduction: str = "mean"
    tile_columns: int = 0
    validate: bool = True


@dataclass(frozen=True)
class HeadOptions:
    """CosFace (m = 0.4 official) or ArcFace (m = 0.5; policy and gradient apply to it)."""
    s: float = 64.0
    m: float = 0.4
    policy: str = "classic_fallback"  # ArcFace: "none", "easy_margin", "classic_fallback"
    gradient: str = "exact"  # ArcFace: or "straight_through"
    reduction: str = "mean"
    tile_columns: int = 0
    validate: bool = True


@dataclass(frozen=True)
class EmbeddedOptions:
    """L = CosFace(x, W) + lambda USS-m(x, memory); the second part from epoch warmup_epochs."""
    s2c_s: float = 64.0
    s2c_m: float = 0.4
    s2s_s: float = 64.0
    s2s_m: float = 0.1
    clamp: bool = True
    init: str = "data_dependent"
    storage: str = "caller_precision"
    lam: float = 1.0
    warmup_epochs: int = 1
    validate: bool = True


def _scaled(grad, g):
    return None if grad is None else grad * g


def _bias_grad(grad_bias, ctx):
    return grad_bias.reshape(ctx.bias_shape).to(ctx.bias_dtype)


def _binary_call(per_identity, input, labels, bias, memory, valid, o, init, grad, upstream):
    return _ops.binary_loss(input, labels, memory, valid, bias, per_identity, o.s, o.m, o.form,
                            o.clamp, init, o.storage, o.reduction, o.tile_columns, o.validate,
                            grad, upstream)


def _binary_forward(per_identity, ctx, input, labels, bias, memory, valid, options):
    ctx.options = options
    ctx.bias_shape, ctx.bias_dtype = bias.shape, bias.dtype
    need = ctx.needs_input_grad[0] or ctx.needs_input_grad[2]
    none = options.reduction == "none"
    loss, per_anchor, gx, gb, bias_used = _binary_call(
        per_identity, input, labels, bias, memory, valid, options, options.init,
        need and not none, None)
    bias_used = bias_used.reshape(bias.shape)
    if none:
        ctx.save_for_backward(input, labels, memory, valid, bias_used)
    else:
        ctx.save_for_backward(gx, gb)
    ctx.mark_non_differentiable(bias_used)
    return (per_anchor if none else loss), bias_used


def _binary_backward(per_identity, ctx, grad_loss):
    o = ctx.options
    if o.reduction == "none":
        input, labels, memory, valid, bias_used = ctx.saved_tensors
        # At the bias the forward used, kept fixed: the initialisation belongs to the forward.
        _, _, gx, gb, _ = _binary_call(per_identity, input, labels, bias_used, memory, valid, o,
                                       "fixed", True, grad_loss.to(input.dtype).contiguous())
    else:
        gx, gb = ctx.saved_tensors
        gx, gb = gx * grad_loss, gb * grad_loss
    return (gx if ctx.needs_input_grad[0] else None, None,
            _bias_grad(gb, ctx) if ctx.needs_input_grad[2] else None, None, None, None)


class USSFunction(torch.autograd.Function):
    """USS / USS-m with one unified bias (a tensor of one value); threshold t = b / s.

    apply(input, labels, bias, memory, valid, options: BinaryOptions) -> (loss, bias_used).
    memory: (C, D) references, or None for in-batch pairs; valid: C flags (uint8 or bool;
    0 = never written, the row takes no part), or None (every row takes part).
    """

    @staticmethod
    def forward(ctx, input, labels, bias, memory, valid, options):
        return _binary_forward(False, ctx, input, labels, bias, memory, valid, options)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_loss, _grad_bias_used):
        return _binary_backward(False, ctx, grad_loss)


class SSBCEFunction(torch.autograd.Function):
    """Sample-to-sample BCE, one bias per memory row (a tensor of C values).

    apply(input, labels, bias, memory, valid, options: BinaryOptions) -> (loss, bias_used);
    the memory is required.
    """

    @staticmethod
    def forward(ctx, input, labels, bias, memory, valid, options):
        return _binary_forward(True, ctx, input, labels, bias, memory, valid, options)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_loss, _grad_bias_used):
        return _binary_backward(True, ctx, grad_loss)


class SSSoftmaxFunction(torch.autograd.Function):
    """apply(input, labels, memory, valid, options: SSSoftmaxOptions) -> loss."""

    @staticmethod
    def forward(ctx, input, labels, memory, valid, options):
        ctx.options = options
        none = options.reduction == "none"
        loss, per_anchor, gx = _ops.ss_softmax(input, labels, memory, valid, options.s,
                                               options.m, options.reduction,
                                               options.tile_columns, options.validate,
                                               ctx.needs_input_grad[0] and not none, None)
        ctx.save_for_backward(*((input, labels, memory, valid) if none else (gx,)))
        return per_anchor if none else loss

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_loss):
        o = ctx.options
        if o.reduction == "none":
            input, labels, memory, valid = ctx.saved_tensors
            _, _, gx = _ops.ss_softmax(input, labels, memory, valid, o.s, o.m, o.reduction,
                                       o.tile_columns, o.validate, True,
                                       grad_loss.to(input.dtype).contiguous())
        else:
            gx = ctx.saved_tensors[0] * grad_loss
        return gx, None, None, None, None


def _head_call(margin, input, labels, weight, o, grad, grad_weight, upstream):
    return _ops.softmax_head(input, labels, weight, margin, o.s, o.m, o.policy, o.gradient,
                             o.reduction, o.tile_columns, o.validate, grad, grad_weight, upstream)


def _head_forward(margin, ctx, input, labels, weight, options):
    ctx.options = options
    none = options.reduction == "none"
    need = ctx.needs_input_grad[0] or ctx.needs_input_grad[2]
    loss, per_anchor, gx, gw = _head_call(margin, input, labels, weight, options,
                                          need and not none,
                                          ctx.needs_input_grad[2] and not none, None)
    ctx.save_for_backward(*((input, labels, weight) if none else (gx, gw)))
    return per_anchor if none else loss


def _head_backward(margin, ctx, grad_loss):
    if ctx.options.reduction == "none":
        input, labels, weight = ctx.saved_tensors
        _, _, gx, gw = _head_call(margin, input, labels, weight, ctx.options, True,
                                  ctx.needs_input_grad[2], grad_loss.to(input.dtype).contiguous())
    else:
        gx, gw = ctx.saved_tensors
        gx, gw = gx * grad_loss, gw * grad_loss
    return (gx if ctx.needs_input_grad[0] else None, None,
            gw if ctx.needs_input_grad[2] else None, None)


class CosFaceFunction(torch.autograd.Function):
    """Normalised softmax with an additive cosine margin over the class weights.

    apply(input, labels, weight, options: HeadOptions) -> loss.
    """

    @staticmethod
    def forward(ctx, input, labels, weight, options):
        return _head_forward("cosface", ctx, input, labels, weight, options)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_loss):
        return _head_backward("cosface", ctx, grad_loss)


class ArcFaceFunction(torch.autograd.Function):
    """ArcFace: target logit s cos(theta + m), with HeadOptions.policy and .gradient.

    apply(input, labels, weight, options: HeadOptions) -> loss.
    """

    @staticmethod
    def forward(ctx, input, labels, weight, options):
        return _head_forward("arcface", ctx, input, labels, weight, options)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_loss):
        return _head_backward("arcface", ctx, grad_loss)


class EmbeddedFunction(torch.autograd.Function):
    """apply(input, labels, weight, bias, memory, valid, epoch, options: EmbeddedOptions)
    -> (loss, s2c_loss, s2s_loss, bias_used).

    The loss of the memory as it is: write the batch afterwards with memory_update (the
    EmbeddedLoss module does). s2c_loss and lambda * s2s_loss are the two parts (not
    differentiable); bias_used is empty during the warm-up. Mean reduction.
    """

    @staticmethod
    def forward(ctx, input, labels, weight, bias, memory, valid, epoch, options):
        o = options
        ctx.bias_shape, ctx.bias_dtype = bias.shape, bias.dtype
        need = any(ctx.needs_input_grad[k] for k in (0, 2, 3))
        loss, s2c, s2s, gx, gw, gb, bias_used = _ops.embedded(
            input, labels, weight, memory, valid, bias, o.s2c_s, o.s2c_m, o.s2s_s, o.s2s_m,
            o.clamp, o.init, o.storage, o.lam, o.warmup_epochs, int(epoch), o.validate, need,
            ctx.needs_input_grad[2])
        if bias_used.numel() > 0:
            bias_used = bias_used.reshape(bias.shape)
        ctx.save_for_backward(gx, gw, gb)
        ctx.mark_non_differentiable(s2c, s2s, bias_used)
        return loss, s2c, s2s, bias_used

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_loss, _s2c, _s2s, _bias_used):
        gx, gw, gb = ctx.saved_tensors
        grad_bias = None
        if ctx.needs_input_grad[3]:
            # During the warm-up the loss does not depend on the bias.
            grad_bias = (torch.zeros(ctx.bias_shape, dtype=ctx.bias_dtype) if gb.numel() == 0
                         else _bias_grad(gb * grad_loss, ctx))
        return (gx * grad_loss if ctx.needs_input_grad[0] else None, None,
                gw * grad_loss if ctx.needs_input_grad[2] else None, grad_bias, None, None,
                None, None)


def memory_update(memory, valid, input, labels, momentum=0.0, validate=True):
    """Writes the batch into the feature memory, in place (no copy of the memory): row y_i
    <- x_i in batch order, the last occurrence winning (momentum mu in (0, 1): a written row
    moves to mu row + (1 - mu) x), valid[y_i] <- 1. memory: (C, D), valid: C uint8 or bool
    flags (contiguous). Labels are always range-checked; validate also checks NaN/Inf."""
    _ops.memory_update(memory, valid, input.detach(), labels, float(momentum), bool(validate))
