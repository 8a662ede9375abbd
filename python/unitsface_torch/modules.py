"""torch.nn.Module wrappers: the losses with their parameters and the feature memory.

Parameters: the class weights of CosFace / ArcFace / the embedded loss (C x D, Xavier-uniform
initialised), the bias of USS (one value) and of SS-BCE (one per identity). The optimiser
updates them like any other Parameter; the losses return their gradients through autograd.

The data-dependent bias initialisation (official UniTSFace, ``bias_init="data_dependent"``):
on every forward where the bias is <= 0 (USS) or the biases' mean is <= 0 (SS-BCE), the
library first sets the bias from the data (USS: b = mean_i logsumexp_n(s c_in); SS-BCE: that
value added to every b_j) and evaluates the loss there. The module then writes the bias that
was used back into its Parameter (in place, under no_grad, as the official ``bias.data = ...``
does), so ``module.bias`` always holds the bias the last loss was computed with. Since the
rule runs on every forward, a bias the optimiser pushes to <= 0 is reset from the data on the
next call. ``"data_dependent_once"`` initialises only the first time (the module remembers it
in the buffer ``bias_initialised``, saved with the state dict); ``"fixed"`` never does.

The feature memory is two buffers (``rows``: identities x dim, ``valid``: uint8 flags) which
the library reads and writes in place.
"""

import torch
from torch import nn

from .functional import (ArcFaceFunction, BinaryOptions, CosFaceFunction, EmbeddedFunction,
                         EmbeddedOptions, HeadOptions, SSBCEFunction, SSSoftmaxFunction,
                         SSSoftmaxOptions, USSFunction, memory_update)

_INITS = ("fixed", "data_dependent", "data_dependent_once")


class FeatureMemory(nn.Module):
    """One raw feature per identity, zero and unwritten at the start (buffers ``rows`` and
    ``valid``). ``update(x, labels)`` writes row y_i <- x_i in batch order, the last
    occurrence winning; momentum mu in (0, 1) makes a written row mu row + (1 - mu) x.
    mask_unwritten=False is the official behaviour: unwritten (zero) rows take part in the
    losses with cosine 0."""

    def __init__(self, identities, dim, momentum=0.0, mask_unwritten=True, dtype=None):
        super().__init__()
        if identities <= 0 or dim <= 0:
            raise ValueError(f"FeatureMemory: identities ({identities}) and dim ({dim}) "
                             "must be > 0")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"FeatureMemory: momentum must lie in [0, 1), got {momentum}")
        self.momentum = float(momentum)
        self.mask_unwritten = bool(mask_unwritten)
        self.register_buffer("rows", torch.zeros(identities, dim, dtype=dtype))
        self.register_buffer("valid", torch.zeros(identities, dtype=torch.uint8))

    @property
    def identities(self):
        return self.rows.shape[0]

    def references(self):
        """(rows, flags) as the losses take them; flags None when unwritten rows take part."""
        return self.rows, (self.valid if self.mask_unwritten else None)

    @torch.no_grad()
    def update(self, input, labels, validate=True):
        memory_update(self.rows, self.valid, input, labels, self.momentum, validate)


def _references(memory, valid):
    if isinstance(memory, FeatureMemory):
        if valid is not None:
            raise ValueError("unitsface: argument 'valid': given with a FeatureMemory, which "
                             "has its own flags")
        return memory.references()
    return memory, valid


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"unitsface: argument '{name}': {value!r} is not one of "
                         f"{', '.join(choices)}")


class _BiasedLoss(nn.Module):
    """USS and SS-BCE: the trainable bias and its data-dependent initialisation."""

    def __init__(self, bias, s, m, form, clamp, bias_init, bias_storage, reduction,
                 tile_columns, validate):
        super().__init__()
        _check_choice("bias_init", bias_init, _INITS)
        self.bias = nn.Parameter(bias)
        self.register_buffer("bias_initialised", torch.tensor(False))
        self.bias_init = bias_init
        self._options = dict(s=float(s), m=float(m), form=form, clamp=bool(clamp),
                             storage=bias_storage, reduction=reduction,
                             tile_columns=int(tile_columns), validate=bool(validate))

    @property
    def s(self):
        return self._options["s"]

    def options(self):
        """The BinaryOptions of the next call (data_dependent_once resolved to one call)."""
        init = self.bias_init
        if init == "data_dependent_once":
            init = "fixed" if bool(self.bias_initialised) else "data_dependent"
        return BinaryOptions(init=init, **self._options)

    def _apply_loss(self, function, input, labels, memory, valid):
        rows, flags = _references(memory, valid)
        opts = self.options()
        initialising = opts.init == "data_dependent" and float(self.bias.detach().mean()) <= 0
        loss, used = function.apply(input, labels, self.bias, rows, flags, opts)
        with torch.no_grad():
            if initialising:
                self.bias.copy_(used)  # the official `bias.data = ...`, see the module doc
                self.bias_initialised.fill_(True)
        return loss


class USSLoss(_BiasedLoss):
    """USS / USS-m (unified threshold integrated sample-to-sample loss) with one trainable
    bias b, the Parameter ``bias`` (0-d); ``threshold`` is t = b / s.

    forward(input, labels, memory=None, valid=None): memory a FeatureMemory or a (C, D)
    tensor (with optional flags ``valid``), or None for in-batch pairs. Defaults are the
    official: s = 64, m = 0.1, per-pair form, clamp, data-dependent bias, mean.
    """

    def __init__(self, s=64.0, m=0.1, *, form="per_pair", clamp=True, bias_init="data_dependent",
                 bias_storage="caller_precision", reduction="mean", bias=0.0, tile_columns=0,
                 validate=True, dtype=None):
        super().__init__(torch.tensor(float(bias), dtype=dtype), s, m, form, clamp, bias_init,
                         bias_storage, reduction, tile_columns, validate)

    @property
    def threshold(self):
        return self.bias.detach() / self.s

    def forward(self, input, labels, memory=None, valid=None):
        return self._apply_loss(USSFunction, input, labels, memory, valid)


class SSBCELoss(_BiasedLoss):
    """Sample-to-sample BCE with one trainable bias per identity (Parameter ``bias``, C
    values). forward(input, labels, memory, valid=None): the memory is required."""

    def __init__(self, identities, s=64.0, m=0.1, *, clamp=True, bias_init="data_dependent",
                 bias_storage="caller_precision", reduction="mean", bias=0.0, tile_columns=0,
                 validate=True, dtype=None):
        super().__init__(torch.full((int(identities),), float(bias), dtype=dtype), s, m,
                         "per_pair", clamp, bias_init, bias_storage, reduction, tile_columns,
                         validate)

    def forward(self, input, labels, memory, valid=None):
        return self._apply_loss(SSBCEFunction, input, labels, memory, valid)


class SSSoftmaxLoss(nn.Module):
    """Sample-to-sample softmax (CosFace over the references, no parameter).
    forward(input, labels, memory=None, valid=None) as USSLoss."""

    def __init__(self, s=64.0, m=0.1, *, reduction="mean", tile_columns=0, validate=True):
        super().__init__()
        self.opts = SSSoftmaxOptions(float(s), float(m), reduction, int(tile_columns),
                                     bool(validate))

    def forward(self, input, labels, memory=None, valid=None):
        rows, flags = _references(memory, valid)
        return SSSoftmaxFunction.apply(input, labels, rows, flags, self.opts)


class _HeadLoss(nn.Module):
    function = None

    def __init__(self, in_features, num_classes, opts, dtype):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(int(num_classes), int(in_features), dtype=dtype))
        nn.init.xavier_uniform_(self.weight)
        self.opts = opts

    def forward(self, input, labels):
        return self.function.apply(input, labels, self.weight, self.opts)


class CosFaceLoss(_HeadLoss):
    """Normalised softmax / CosFace over trainable class weights (Parameter ``weight``,
    num_classes x in_features). Official UniTSFace defaults: s = 64, m = 0.4."""
    function = CosFaceFunction

    def __init__(self, in_features, num_classes, s=64.0, m=0.4, *, reduction="mean",
                 tile_columns=0, validate=True, dtype=None):
        super().__init__(in_features, num_classes,
                         HeadOptions(s=float(s), m=float(m), reduction=reduction,
                                     tile_columns=int(tile_columns), validate=bool(validate)),
                         dtype)


class ArcFaceLoss(_HeadLoss):
    """ArcFace over trainable class weights: s = 64, m = 0.5, policy "classic_fallback"
    (also "none", "easy_margin"), gradient "exact" (or "straight_through")."""
    function = ArcFaceFunction

    def __init__(self, in_features, num_classes, s=64.0, m=0.5, *, policy="classic_fallback",
                 gradient="exact", reduction="mean", tile_columns=0, validate=True, dtype=None):
        super().__init__(in_features, num_classes,
                         HeadOptions(s=float(s), m=float(m), policy=policy, gradient=gradient,
                                     reduction=reduction, tile_columns=int(tile_columns),
                                     validate=bool(validate)),
                         dtype)


class EmbeddedLoss(nn.Module):
    """The UniTSFace embedded loss L = CosFace(x, W) + lambda USS-m(x, memory), the second
    part from epoch ``warmup_epochs`` on; the batch is written into the memory after every
    forward (the warm-up included, also under no_grad: the official schedule).

    Parameters ``weight`` (num_classes x in_features) and ``bias`` (the USS bias, 0-d,
    initialised from the data as USSLoss's); submodule ``memory`` (FeatureMemory).
    forward(input, labels, epoch) returns L; ``last_parts`` holds (L_s2c, lambda L_s2s).
    """

    def __init__(self, in_features, num_classes, *, s=64.0, s2c_m=0.4, s2s_m=0.1, s2s_s=None,
                 lambda_=1.0, warmup_epochs=1, clamp=True, bias_init="data_dependent",
                 bias_storage="caller_precision", memory_momentum=0.0, mask_unwritten=True,
                 validate=True, dtype=None):
        super().__init__()
        _check_choice("bias_init", bias_init, _INITS)
        self.weight = nn.Parameter(torch.empty(int(num_classes), int(in_features), dtype=dtype))
        nn.init.xavier_uniform_(self.weight)
        self.bias = nn.Parameter(torch.tensor(0.0, dtype=dtype))
        self.register_buffer("bias_initialised", torch.tensor(False))
        self.memory = FeatureMemory(num_classes, in_features, memory_momentum, mask_unwritten,
                                    dtype)
        self.bias_init = bias_init
        self._options = dict(s2c_s=float(s), s2c_m=float(s2c_m),
                             s2s_s=float(s if s2s_s is None else s2s_s), s2s_m=float(s2s_m),
                             clamp=bool(clamp), storage=bias_storage, lam=float(lambda_),
                             warmup_epochs=int(warmup_epochs), validate=bool(validate))
        self.last_parts = None

    @property
    def threshold(self):
        return self.bias.detach() / self._options["s2s_s"]

    def options(self):
        init = self.bias_init
        if init == "data_dependent_once":
            init = "fixed" if bool(self.bias_initialised) else "data_dependent"
        return EmbeddedOptions(init=init, **self._options)

    def forward(self, input, labels, epoch):
        rows, flags = self.memory.references()
        opts = self.options()
        loss, s2c, s2s, used = EmbeddedFunction.apply(input, labels, self.weight, self.bias,
                                                      rows, flags, int(epoch), opts)
        with torch.no_grad():
            if used.numel() > 0 and opts.init == "data_dependent" and float(self.bias) <= 0:
                self.bias.copy_(used)
                self.bias_initialised.fill_(True)
        # Labels and values were checked by the loss (labels against the memory too).
        self.memory.update(input, labels, validate=False)
        self.last_parts = (s2c, s2s)
        return loss
