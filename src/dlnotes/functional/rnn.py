"""The Elman recurrent network — notes 003, "Recurrent networks".

The notes' hidden-state recurrence, for t = 1, …, T from the initial state h(0):

    a(t) = b + W h(t−1) + U x(t),   h(t) = tanh(a(t)).

(The output layer o(t) = c + V h(t), ŷ(t) = softmax(o(t)) is a dense layer and a softmax
applied to every h(t); it is not part of this op.) U (``weight_ih``) is (H, H_in),
W (``weight_hh``) is (H, H) and b = ``bias_ih`` + ``bias_hh`` is (H,), exactly
PyTorch's ``nn.RNN`` parameters. As everywhere in dlnotes samples are rows, so a step
reads a(t) = b + h(t−1) Wᵀ + x(t) Uᵀ for a batch of N states h(t−1) of shape (N, H).
``nonlinearity="relu"`` swaps tanh for the ReLU.

The loss sums over time, so its gradient reaches h(t) both from the output at step t,
dH(t), and through a(t+1) from the later steps. Backpropagation through time walks the
steps backwards:

    dA(t) = (dH(t) + dA(t+1) W) ⊙ g′(a(t))      (dA(T+1) W is the gradient of h_n),

and since U, W and b are shared by every step their gradients are sums over time,
computed once after the walk: dW = Σ_t dA(t)ᵀ h(t−1), dU = Σ_t dA(t)ᵀ x(t),
db = Σ_t Σ_samples dA(t), dX = dA U, dh(0) = dA(1) W.

Internally the states are stored time-major, (T, N, H), so that every step is a
contiguous (N, H) block; the output is that buffer with its first two dims swapped
(as ``nn.RNN(batch_first=True)`` returns it).
"""

from __future__ import annotations

import torch
from torch.autograd.function import FunctionCtx

from dlnotes.functional._common import autocast_backward, autocast_forward, first_order


class ElmanRNN(torch.autograd.Function):
    """h(t) = g(b + W h(t−1) + U x(t)) over a whole sequence, with a hand-written BPTT."""

    @staticmethod
    @autocast_forward(cast="low")
    def forward(
        ctx: FunctionCtx,
        X: torch.Tensor,
        h0: torch.Tensor | None,
        U: torch.Tensor,
        W: torch.Tensor,
        b_ih: torch.Tensor | None,
        b_hh: torch.Tensor | None,
        relu: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """X: (N, T, H_in), h0: (N, H) or None (zeros), U: (H, H_in), W: (H, H),
        b_ih, b_hh: (H,) or None → output (N, T, H), h_n (N, H)."""
        N, T, H_in = X.shape
        H = W.shape[0]
        # x(t) for every t as rows of one (T·N, H_in) matrix, time-major
        X_t = X.transpose(0, 1).reshape(T * N, H_in)
        Hs = torch.empty((T, N, H), dtype=X.dtype, device=X.device)
        if b_ih is None and b_hh is None:
            # a(t) ← U x(t) for all t at once
            torch.mm(X_t, U.t(), out=Hs.view(T * N, H))
        else:
            # b = bias_ih + bias_hh (either may be absent)
            b = b_hh if b_ih is None else (b_ih if b_hh is None else b_ih + b_hh)
            # a(t) ← b + U x(t) for all t at once
            torch.addmm(b, X_t, U.t(), out=Hs.view(T * N, H))
        h_prev = h0
        for h_t in Hs.unbind(0):
            if h_prev is not None:
                # a(t) = b + U x(t) + W h(t−1)
                h_t.addmm_(h_prev, W.t())
            # h(t) = g(a(t)), in place: the buffer now holds h(t)
            if relu:
                h_t.clamp_min_(0)
            else:
                h_t.tanh_()
            h_prev = h_t
        h_n = Hs[-1].clone()
        # (T, N, H) → (N, T, H) by swapping strides in place: the output is not a view
        output = Hs.transpose_(0, 1)
        ctx.save_for_backward(X, h0, U, W, output)
        ctx.relu = relu
        # an unused output (say h_n) reaches backward as None instead of a zero tensor
        ctx.set_materialize_grads(False)
        return output, h_n

    @staticmethod
    @first_order
    @autocast_backward
    def backward(ctx: FunctionCtx, d_output: torch.Tensor | None, dh_n: torch.Tensor | None):
        """d_output: (N, T, H), dh_n: (N, H) (None when unused) → dX (N, T, H_in),
        dh0 (N, H), dU (H, H_in), dW (H, H), db_ih (H,), db_hh (H,)."""
        X, h0, U, W, output = ctx.saved_tensors
        N, T, H_in = X.shape
        H = W.shape[0]
        Hs = output.transpose(0, 1)  # h(t), time-major (T, N, H), contiguous
        # g′(a(t)) for all t, from h(t): tanh′ = 1 − h², ReLU′ = 1[h > 0]
        if ctx.relu:
            g_prime = (Hs > 0).to(Hs.dtype)
        else:
            g_prime = torch.addcmul(Hs.new_ones(()), Hs, Hs, value=-1)
        # dA(t) starts as dH(t), the gradient that reaches h(t) from the output at step t
        if d_output is None:
            dA = torch.zeros_like(Hs)
        else:
            dA = d_output.transpose(0, 1).clone(memory_format=torch.contiguous_format)
        steps, g_steps = dA.unbind(0), g_prime.unbind(0)
        for t in range(T - 1, -1, -1):
            if t < T - 1:
                # dh(t) = dH(t) + dA(t+1) W
                steps[t].addmm_(steps[t + 1], W)
            elif dh_n is not None:
                # dh(T) = dH(T) + dh_n
                steps[t].add_(dh_n)
            # dA(t) = dh(t) ⊙ g′(a(t))
            steps[t].mul_(g_steps[t])
        dA2 = dA.view(T * N, H)
        dX = dh0 = dU = dW = db_ih = db_hh = None
        if ctx.needs_input_grad[0]:
            # dX = dA U, for all t at once, back to batch-first
            dX = torch.mm(dA2, U).view(T, N, H_in).transpose(0, 1)
        if h0 is not None and ctx.needs_input_grad[1]:
            # dh(0) = dA(1) W
            dh0 = steps[0] @ W
        if ctx.needs_input_grad[2]:
            # dU = Σ_t dA(t)ᵀ x(t)
            dU = dA2.t() @ X.transpose(0, 1).reshape(T * N, H_in)
        if ctx.needs_input_grad[3]:
            # dW = Σ_t dA(t)ᵀ h(t−1): t ≥ 2 pairs with the stored states, t = 1 with h(0)
            dW = dA[1:].view(-1, H).t() @ Hs[:-1].reshape(-1, H)
            if h0 is not None:
                dW.addmm_(steps[0].t(), h0)
        if ctx.needs_input_grad[4] or ctx.needs_input_grad[5]:
            # db = Σ_t Σ_samples dA(t)   (the same for bias_ih and bias_hh)
            db = dA2.sum(0)
            if ctx.needs_input_grad[4]:
                db_ih = db
            if ctx.needs_input_grad[5]:
                # a tensor of its own: two parameters must not share one .grad
                db_hh = db if db_ih is None else db.clone()
        return dX, dh0, dU, dW, db_ih, db_hh, None


def elman_rnn(
    input: torch.Tensor,
    hx: torch.Tensor | None,
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor | None = None,
    bias_hh: torch.Tensor | None = None,
    nonlinearity: str = "tanh",
) -> tuple[torch.Tensor, torch.Tensor]:
    """One-layer Elman RNN over a batch-first sequence, the twin of
    ``torch.nn.RNN(H_in, H, batch_first=True, nonlinearity=...)`` with the same weights.

    Shapes: input (N, T, H_in), hx (N, H) or None (zeros), weight_ih (H, H_in),
    weight_hh (H, H), bias_ih and bias_hh (H,) or None → output (N, T, H) with every
    h(t), h_n (N, H) the last state.
    """
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    if input.dim() != 3:
        raise ValueError(f"input must be (N, T, H_in), got shape {tuple(input.shape)}")
    N, T, H_in = input.shape
    H = weight_hh.shape[0]
    if T == 0:
        raise ValueError("input must contain at least one time step")
    if weight_ih.shape != (H, H_in) or weight_hh.shape != (H, H):
        raise ValueError(
            f"expected weight_ih {(H, H_in)} and weight_hh {(H, H)}, "
            f"got {tuple(weight_ih.shape)} and {tuple(weight_hh.shape)}"
        )
    if hx is not None and hx.shape != (N, H):
        raise ValueError(f"hx must be (N, H) = {(N, H)}, got {tuple(hx.shape)}")
    return ElmanRNN.apply(input, hx, weight_ih, weight_hh, bias_ih, bias_hh, nonlinearity == "relu")
