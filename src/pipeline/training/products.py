"""The networks' convolutions and dense layers as products of the pinned OpenBLAS.

With portable numerics (:mod:`pipeline.pinned_blas`) every matrix product of a network's
forward and backward pass runs OpenBLAS's Haswell sgemm, the same code on any x86-64 CPU with
AVX2 and FMA. :class:`Conv1d` and :class:`Linear` are drop-ins for torch's layers (same
parameters, same state-dict names, so model.pt files load either way); they use torch's own
kernels on a GPU, with native numerics, and inside ``torch.func`` transforms (the packed
engine), where torch's convolutions stay portable through MKL's reproducible mode.

A 1-D convolution over channels-last input ``x`` (batch, time, channels) with ``K`` taps is a
sum of ``K`` products of the *same* input rows shifted by one row each:
``out[t] = sum_k x[t + k] @ W_k^T``. Every shifted block of rows is itself a matrix BLAS
accepts (contiguous rows of ``channels`` floats), so no im2col copy is made. A strided
convolution on raw audio whose length is a multiple of its stride (every pair of the grid)
is the same thing after a free reshape: samples in blocks of ``stride`` are the channels and
``length / stride`` the taps. Rows that would straddle two examples of the batch are computed
and dropped (``K - 1`` per example), which costs less than copying every frame.

Every output and gradient is written whole (by a product with ``beta = 0``, which never reads
its output, or an explicit zero) before it is read, so it is allocated without deterministic
mode's fill (:func:`pipeline.determinism.empty_to_overwrite`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from pipeline import pinned_blas
from pipeline.determinism import empty_to_overwrite

_FLOAT_BYTES = 4


def _uses_pinned(x: torch.Tensor) -> pinned_blas.PinnedBlas | None:
    """The pinned library, when this input's products must go through it."""
    blas = pinned_blas.active()
    if blas is None or x.device.type != "cpu" or x.dtype != torch.float32:
        return None
    if torch._C._functorch.is_functorch_wrapped_tensor(x):  # vmap/grad: torch's own kernels
        return None
    return blas


def _address(tensor: torch.Tensor, row: int = 0, row_length: int = 0) -> int:
    """The byte address of row ``row`` of a contiguous float32 tensor."""
    return tensor.data_ptr() + _FLOAT_BYTES * row * row_length


class _ShiftedRowsConv(torch.autograd.Function):
    """``out[b, t] = bias + sum_k x[b, t + k] @ W_k^T`` for channels-last ``x`` (B, T, C)
    and taps ``w`` (K, O, C), both contiguous; returns (B, T - K + 1, O)."""

    @staticmethod
    def forward(ctx, x, w, bias):  # noqa: ANN001, ANN205 (autograd's signature)
        blas = pinned_blas.active()
        batch, steps, channels = x.shape
        taps, outputs, _ = w.shape
        rows = batch * steps - taps + 1  # the last output row whose taps stay in the batch
        out = empty_to_overwrite(batch * steps, outputs)
        out[rows:].zero_()
        for k in range(taps):
            blas.sgemm(
                False, True, rows, outputs, channels,
                _address(x, k, channels), channels,
                _address(w, k, outputs * channels), channels,
                _address(out), outputs,
                beta=0.0 if k == 0 else 1.0,
            )  # fmt: skip
        out += bias
        ctx.save_for_backward(x, w)
        return out.view(batch, steps, outputs)[:, : steps - taps + 1]

    @staticmethod
    def backward(ctx, grad):  # noqa: ANN001, ANN205
        blas = pinned_blas.active()
        x, w = ctx.saved_tensors
        batch, steps, channels = x.shape
        taps, outputs, _ = w.shape
        rows = batch * steps - taps + 1
        if taps == 1:
            padded = grad.contiguous()
        else:  # the rows past each example's last output: no gradient
            padded = empty_to_overwrite(batch, steps, outputs)
            padded[:, : steps - taps + 1] = grad
            padded[:, steps - taps + 1 :] = 0.0
        grad_x = grad_w = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_x = empty_to_overwrite(batch * steps, channels)
            grad_x[rows:] = 0.0  # rows the first tap does not write
            for k in range(taps):
                blas.sgemm(
                    False, False, rows, channels, outputs,
                    _address(padded), outputs,
                    _address(w, k, outputs * channels), channels,
                    _address(grad_x, k, channels), channels,
                    beta=0.0 if k == 0 else 1.0,
                )  # fmt: skip
            grad_x = grad_x.view(batch, steps, channels)
        if ctx.needs_input_grad[1]:
            grad_w = empty_to_overwrite(taps, outputs, channels)
            for k in range(taps):
                blas.sgemm(
                    True, False, outputs, channels, rows,
                    _address(padded), outputs,
                    _address(x, k, channels), channels,
                    _address(grad_w, k, outputs * channels), channels,
                )  # fmt: skip
        if ctx.needs_input_grad[2]:
            grad_bias = padded.view(-1, outputs).sum(0)
        return grad_x, grad_w, grad_bias


def pinned_conv1d(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, stride: int
) -> torch.Tensor:
    """``torch.nn.functional.conv1d(x, weight, bias, stride)`` (no padding, no dilation)
    through the pinned products: (B, C, T) -> (B, O, T_out), the result a transposed view of
    channels-last memory."""
    batch, channels, steps = x.shape
    outputs, _, length = weight.shape
    if stride == 1:
        rows = x.transpose(1, 2).contiguous()  # free when x is itself a transposed view
        taps = weight.permute(2, 0, 1)
    elif channels == 1 and length % stride == 0:
        blocks = steps // stride  # samples in blocks of `stride`: a tap per block of a frame
        rows = x[:, 0, : blocks * stride].reshape(batch, blocks, stride)
        taps = weight.reshape(outputs, length // stride, stride).transpose(0, 1)
    else:  # any other framing: the frames themselves, one tap
        frames = x.unfold(2, length, stride).permute(0, 2, 1, 3)
        rows = frames.reshape(batch, frames.shape[1], channels * length)
        taps = weight.reshape(1, outputs, channels * length)
    out = _ShiftedRowsConv.apply(rows.contiguous(), taps.contiguous(), bias)
    return out.transpose(1, 2)


class _Dense(torch.autograd.Function):
    """``x @ W^T + bias`` for contiguous ``x`` (N, in) and ``w`` (out, in)."""

    @staticmethod
    def forward(ctx, x, w, bias):  # noqa: ANN001, ANN205
        blas = pinned_blas.active()
        (rows, inputs), outputs = x.shape, w.shape[0]
        out = empty_to_overwrite(rows, outputs)
        blas.sgemm(
            False, True, rows, outputs, inputs,
            _address(x), inputs, _address(w), inputs, _address(out), outputs,
        )  # fmt: skip
        out += bias
        ctx.save_for_backward(x, w)
        return out

    @staticmethod
    def backward(ctx, grad):  # noqa: ANN001, ANN205
        blas = pinned_blas.active()
        x, w = ctx.saved_tensors
        (rows, inputs), outputs = x.shape, w.shape[0]
        grad = grad.contiguous()
        grad_x = grad_w = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_x = empty_to_overwrite(rows, inputs)
            blas.sgemm(
                False, False, rows, inputs, outputs,
                _address(grad), outputs, _address(w), inputs, _address(grad_x), inputs,
            )  # fmt: skip
        if ctx.needs_input_grad[1]:
            grad_w = empty_to_overwrite(outputs, inputs)
            blas.sgemm(
                True, False, outputs, inputs, rows,
                _address(grad), outputs, _address(x), inputs, _address(grad_w), inputs,
            )  # fmt: skip
        if ctx.needs_input_grad[2]:
            grad_bias = grad.sum(0)
        return grad_x, grad_w, grad_bias


def pinned_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``torch.nn.functional.linear`` for (N, in) inputs through the pinned products."""
    return _Dense.apply(x.contiguous(), weight.contiguous(), bias)


class Conv1d(nn.Conv1d):
    """``nn.Conv1d`` (no padding, dilation or groups) whose products are pinned when
    portable numerics are active."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        plain = self.padding == (0,) and self.dilation == (1,) and self.groups == 1
        if _uses_pinned(x) is None or not plain or self.bias is None:
            return super().forward(x)
        return pinned_conv1d(x, self.weight, self.bias, self.stride[0])


class Linear(nn.Linear):
    """``nn.Linear`` whose products are pinned when portable numerics are active."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _uses_pinned(x) is None or x.dim() != 2 or self.bias is None:
            return functional.linear(x, self.weight, self.bias)
        return pinned_linear(x, self.weight, self.bias)
