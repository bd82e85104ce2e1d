"""Recurrent layers (RNN, LSTM, GRU and their cells).

Composed from Tensor ops, so they are differentiable and run on every device.
Per layer and direction the input projection of all time steps is one matmul;
the loop over time does only the hidden projection and the gate arithmetic.
Parameter names, shapes, gate orders (LSTM i, f, g, o; GRU r, z, n) and the
order of the initial draws are PyTorch's, so ``manual_seed`` gives torch's
weights on cpu."""
import math
import numbers
import warnings

from ...autograd.function import Function
from ...ops.creation import empty, zeros
from ...ops.linalg import addmm, matmul
from ...ops.shape import cat, stack
from .. import functional as F
from .. import init
from ..parameter import Parameter
from ..utils.rnn import PackedSequence
from .module import Module

__all__ = ["GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNBase", "RNNCell", "RNNCellBase"]

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _proj(x2d, weight, bias):
    """x2d @ weight^T (+ bias): one matmul."""
    return addmm(bias, x2d, weight.t()) if bias is not None else matmul(x2d, weight.t())


class _Split(Function):
    """x split into pieces along dim, with one backward node (a cat) instead of one
    zero-filled gradient per slice: the gates of every step and the time steps of the
    input projection are taken apart this way."""

    @staticmethod
    def forward(ctx, x, dim, sizes):
        ctx.dim = dim
        out, start = [], 0
        for n in sizes:
            out.append(x.narrow(dim, start, n))
            start += n
        return tuple(out)

    @staticmethod
    def backward(ctx, *grads):
        return cat(grads, ctx.dim), None, None


def _split(x, n):
    """The last dim of 2-D x in n equal pieces."""
    h = x.shape[-1] // n
    return _Split.apply(x, 1, [h] * n)


def _like(state, x):
    """state in x's dtype: under autocast the input projection is in the lower type, and the
    recurrence runs in it (as cuDNN's RNN does under PyTorch's autocast)."""
    return state if state.dtype is x.dtype else state.to(x.dtype)


# ---- one time step of each kind (x_proj: the input projection with its biases folded in) ----------
def _rnn_step(xp, h, w_hh, act):
    pre = addmm(xp, h, w_hh.t())
    return pre.tanh() if act == "tanh" else pre.relu()


def _lstm_step(xp, h, c, w_hh, w_hr):
    i, f, g, o = _split(addmm(xp, h, w_hh.t()), 4)
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    h = o.sigmoid() * c.tanh()
    if w_hr is not None:
        h = matmul(h, w_hr.t())
    return h, c


def _gru_step(xp, h, w_hh, b_hh, H):
    x_rz, x_n = _Split.apply(xp, 1, [2 * H, H])
    h_rz, h_n = _Split.apply(_proj(h, w_hh, b_hh), 1, [2 * H, H])
    r, z = _split((x_rz + h_rz).sigmoid(), 2)
    n = (x_n + r * h_n).tanh()
    return n + z * (h - n)  # (1 - z) * n + z * h


class RNNBase(Module):
    """The shared machinery of RNN, LSTM and GRU (torch's RNNBase)."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an "
                             "element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                          f"expects num_layers greater than 1, but got dropout={dropout} and "
                          f"num_layers={num_layers}", stacklevel=3)
        if not isinstance(bias, bool):
            raise TypeError(f"bias should be of type bool, got: {type(bias).__name__}")
        if not isinstance(batch_first, bool):
            raise TypeError(f"batch_first should be of type bool, got: {type(batch_first).__name__}")
        if not isinstance(input_size, int):
            raise TypeError(f"input_size should be of type int, got: {type(input_size).__name__}")
        if input_size <= 0:
            raise ValueError("input_size must be greater than zero")
        if not isinstance(hidden_size, int):
            raise TypeError(f"hidden_size should be of type int, got: {type(hidden_size).__name__}")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if mode not in _GATES:
            raise ValueError("Unrecognized RNN mode: " + mode)
        self.mode = mode
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size
        num_directions = 2 if bidirectional else 1
        gate_size = _GATES[mode] * hidden_size
        real_hidden_size = proj_size if proj_size > 0 else hidden_size
        kw = {"device": device, "dtype": dtype}
        self._flat_weights_names = []
        self._all_weights = []
        for layer in range(num_layers):
            layer_input_size = input_size if layer == 0 else real_hidden_size * num_directions
            for direction in range(num_directions):
                suffix = "_reverse" if direction == 1 else ""
                params = [("weight_ih_l{}{}", (gate_size, layer_input_size)),
                          ("weight_hh_l{}{}", (gate_size, real_hidden_size))]
                if bias:
                    params += [("bias_ih_l{}{}", (gate_size,)), ("bias_hh_l{}{}", (gate_size,))]
                if proj_size > 0:
                    params += [("weight_hr_l{}{}", (proj_size, hidden_size))]
                names = []
                for fmt, shape in params:
                    name = fmt.format(layer, suffix)
                    setattr(self, name, Parameter(empty(shape, **kw)))
                    names.append(name)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():  # torch's order of draws: registration order
            init.uniform_(weight, -stdv, stdv)

    def flatten_parameters(self):
        """A no-op (cuDNN's weight packing has no counterpart here), kept for code that calls it."""

    @property
    def _flat_weights(self):
        return [getattr(self, n, None) for n in self._flat_weights_names]

    @property
    def all_weights(self):
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    def extra_repr(self):
        s = "{input_size}, {hidden_size}"
        if self.proj_size != 0:
            s += ", proj_size={proj_size}"
        if self.num_layers != 1:
            s += ", num_layers={num_layers}"
        if self.bias is not True:
            s += ", bias={bias}"
        if self.batch_first is not False:
            s += ", batch_first={batch_first}"
        if self.dropout != 0:
            s += ", dropout={dropout}"
        if self.bidirectional is not False:
            s += ", bidirectional={bidirectional}"
        return s.format(**self.__dict__)

    # ---- forward ---------------------------------------------------------------------------------
    def _check_input(self, input):
        w = getattr(self, self._flat_weights_names[0])
        if input.dtype != w.dtype:
            raise ValueError(f"RNN input dtype ({input.dtype}) does not match weight dtype ({w.dtype}). "
                             f"Convert input: input.to({w.dtype}), or convert model: model.to({input.dtype})")
        if input.size(-1) != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                               f"got {input.size(-1)}")

    def _expected_hidden_size(self, batch, size):
        return (self.num_layers * (2 if self.bidirectional else 1), batch, size)

    def _check_hidden(self, hx, expected, msg="Expected hidden size {}, got {}"):
        if tuple(hx.shape) != expected:
            raise RuntimeError(msg.format(expected, list(hx.shape)))

    def _direction_weights(self, idx, gru):
        """Layer-direction idx's weights by role (w_ih, w_hh, b_ih, b_hh, w_hr: None when
        absent), and its input-projection bias: both biases folded into it, but GRU's b_hh,
        which its reset gate multiplies."""
        p = dict.fromkeys(("w_ih", "w_hh", "b_ih", "b_hh", "w_hr"))
        for name in self._all_weights[idx]:
            p[name.split("_l")[0].replace("weight", "w").replace("bias", "b")] = getattr(self, name)
        b_ih, b_hh = p["b_ih"], p["b_hh"]
        if b_ih is not None and not gru:
            b_ih = b_ih + b_hh
        return p, b_ih, b_hh

    def _step(self, xt, h, c, p, b_hh):
        """One time step of this module's cell: the new (h, c); c is None but for LSTM."""
        if self.mode == "LSTM":
            return _lstm_step(xt, h, c, p["w_hh"], p["w_hr"])
        if self.mode == "GRU":
            return _gru_step(xt, h, p["w_hh"], b_hh, self.hidden_size), None
        return _rnn_step(xt, h, p["w_hh"], "relu" if self.mode == "RNN_RELU" else "tanh"), None

    def _run(self, input, h0, c0):
        """input: 3-D in the module's layout; h0 (and c0 for LSTM): 3-D states.
        Returns output and the lists of final h (and c) per layer and direction."""
        tdim = 1 if self.batch_first else 0
        num_directions = 2 if self.bidirectional else 1
        lstm, gru = self.mode == "LSTM", self.mode == "GRU"
        x = input
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            lead = x.shape[:2]
            x2d = x.reshape(-1, x.shape[-1])
            outs = []
            for direction in range(num_directions):
                idx = layer * num_directions + direction
                p, b_ih, b_hh = self._direction_weights(idx, gru)
                xp = _proj(x2d, p["w_ih"], b_ih).view(*lead, -1)
                h = _like(h0[idx], xp)
                c = _like(c0[idx], xp) if lstm else None
                xs = xp.unbind(tdim)
                hs = []
                for xt in (reversed(xs) if direction == 1 else xs):
                    h, c = self._step(xt, h, c, p, b_hh)
                    hs.append(h)
                if direction == 1:
                    hs.reverse()
                outs.append(stack(hs, tdim))
                h_n.append(h)
                c_n.append(c)
            x = outs[0] if num_directions == 1 else cat(outs, -1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        return x, h_n, c_n

    def _run_packed(self, data, batch_sizes, h0, c0):
        """_run over packed data (sum of lengths, F), the sequences sorted longest first: step t
        updates the first batch_sizes[t] rows of the state; the others keep theirs (the forward
        direction: they have ended) or have not started yet (the reverse direction, which walks
        the steps backwards and takes a row's initial state when its sequence starts)."""
        num_directions = 2 if self.bidirectional else 1
        lstm, gru = self.mode == "LSTM", self.mode == "GRU"
        x = data
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            outs = []
            for direction in range(num_directions):
                idx = layer * num_directions + direction
                p, b_ih, b_hh = self._direction_weights(idx, gru)
                xs = _Split.apply(_proj(x, p["w_ih"], b_ih), 0, batch_sizes)  # one piece per step
                h0i = _like(h0[idx], xs[0])
                c0i = _like(c0[idx], xs[0]) if lstm else None
                steps = range(len(batch_sizes) - 1, -1, -1) if direction == 1 else range(len(batch_sizes))
                hs = [None] * len(batch_sizes)
                n0 = batch_sizes[0] if direction == 0 else batch_sizes[-1]  # the reverse direction: rows
                h = h0i[:n0]                                                  # join as their sequences start
                c = c0i[:n0] if lstm else None
                for t in steps:
                    n = batch_sizes[t]
                    if n > h.shape[0]:
                        h = cat([h, h0i[h.shape[0]:n]], 0)
                        if lstm:
                            c = cat([c, c0i[c.shape[0]:n]], 0)
                    whole = n == h.shape[0]
                    ht, ct = self._step(xs[t], h if whole else h[:n], (c if whole else c[:n]) if lstm else None,
                                        p, b_hh)
                    if lstm:
                        c = ct if whole else cat([ct, c[n:]], 0)
                    hs[t] = ht
                    h = ht if whole else cat([ht, h[n:]], 0)
                outs.append(cat(hs, 0))
                h_n.append(h)
                c_n.append(c)
            x = outs[0] if num_directions == 1 else cat(outs, -1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        return x, h_n, c_n

    def _packed_forward(self, input, hx):
        """forward for a PackedSequence: hx (in the caller's batch order) is permuted to the sorted
        order, and the final states back."""
        data, batch_sizes, sorted_indices, unsorted_indices = input
        if data.dim() != 2:
            raise ValueError(f"input must have 2 dimensions, got {data.dim()}")
        self._check_input(data)
        bs = [int(b) for b in batch_sizes.tolist()]
        lstm = self.mode == "LSTM"
        real_hidden = self.proj_size if self.proj_size > 0 else self.hidden_size
        exp_h = self._expected_hidden_size(bs[0], real_hidden)
        exp_c = self._expected_hidden_size(bs[0], self.hidden_size)
        kw = {"dtype": data.dtype, "device": data.device}
        if hx is None:
            h0 = zeros(*exp_h, **kw)
            c0 = zeros(*exp_c, **kw) if lstm else None
        else:
            h0, c0 = hx if lstm else (hx, None)
            if sorted_indices is not None:
                h0 = h0.index_select(1, sorted_indices)
                c0 = c0.index_select(1, sorted_indices) if lstm else None
        self._check_hidden(h0, exp_h, "Expected hidden[0] size {}, got {}" if lstm else
                           "Expected hidden size {}, got {}")
        if lstm:
            self._check_hidden(c0, exp_c, "Expected hidden[1] size {}, got {}")
        out, h_n, c_n = self._run_packed(data, bs, h0, c0)
        h_n = stack(h_n, 0)
        c_n = stack(c_n, 0) if lstm else None
        if unsorted_indices is not None:
            h_n = h_n.index_select(1, unsorted_indices)
            c_n = c_n.index_select(1, unsorted_indices) if lstm else None
        out = PackedSequence(out, batch_sizes, sorted_indices, unsorted_indices)
        return out, ((h_n, c_n) if lstm else h_n)

    def _prepare(self, input, name):
        if input.dim() not in (2, 3):
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.dim()}D tensor instead"
                             if name == "RNN" else
                             f"{name}: Expected input to be 2D or 3D, got {input.dim()}D instead")
        is_batched = input.dim() == 3
        if not is_batched:
            input = input.unsqueeze(0 if self.batch_first else 1)  # (1, T, F) or (T, 1, F), as torch
        batch = input.size(0) if self.batch_first else input.size(1)
        return input, is_batched, batch

    def _simple_forward(self, input, hx, name):
        """RNN and GRU: one state tensor."""
        if isinstance(input, PackedSequence):
            return self._packed_forward(input, hx)
        input, is_batched, batch = self._prepare(input, name)
        if hx is not None:
            if is_batched and hx.dim() != 3:
                raise RuntimeError(f"For batched 3-D input, hx should also be 3-D but got {hx.dim()}-D tensor")
            if not is_batched:
                if hx.dim() != 2:
                    raise RuntimeError(f"For unbatched 2-D input, hx should also be 2-D but got {hx.dim()}-D "
                                       "tensor")
                hx = hx.unsqueeze(1)
        self._check_input(input)
        expected = self._expected_hidden_size(batch, self.hidden_size)
        if hx is None:
            hx = zeros(*expected, dtype=input.dtype, device=input.device)
        self._check_hidden(hx, expected)
        out, h_n, _ = self._run(input, hx, None)
        h_n = stack(h_n, 0)
        if not is_batched:
            out = _unbatch(out, self.batch_first)
            h_n = h_n.squeeze(1)
        return out, h_n


def _unbatch(out, batch_first):
    # the unbatched input was made (1, T, F) or (T, 1, F) as batch_first says
    return out.squeeze(0) if batch_first else out.squeeze(1)


class RNN(RNNBase):
    """Elman RNN: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act tanh or relu."""

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            self.nonlinearity = args[3]
            args = args[:3] + args[4:]
        else:
            self.nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if self.nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif self.nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(f"Unknown nonlinearity '{self.nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__(mode, *args, **kwargs)

    def forward(self, input, hx=None):
        return self._simple_forward(input, hx, "RNN")


class GRU(RNNBase):
    """GRU, gates r, z, n; n = tanh(W_in x + b_in + r * (W_hn h + b_hn))."""

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)

    def forward(self, input, hx=None):
        return self._simple_forward(input, hx, "GRU")


class LSTM(RNNBase):
    """LSTM, gates i, f, g, o; with proj_size > 0 the hidden state is projected by weight_hr."""

    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)

    def forward(self, input, hx=None):
        if isinstance(input, PackedSequence):
            return self._packed_forward(input, hx)
        input, is_batched, batch = self._prepare(input, "LSTM")
        real_hidden = self.proj_size if self.proj_size > 0 else self.hidden_size
        self._check_input(input)
        exp_h = self._expected_hidden_size(batch, real_hidden)
        exp_c = self._expected_hidden_size(batch, self.hidden_size)
        if hx is None:
            h0 = zeros(*exp_h, dtype=input.dtype, device=input.device)
            c0 = zeros(*exp_c, dtype=input.dtype, device=input.device)
        else:
            h0, c0 = hx
            if is_batched:
                if h0.dim() != 3 or c0.dim() != 3:
                    raise RuntimeError("For batched 3-D input, hx and cx should also be 3-D but got "
                                       f"({h0.dim()}-D, {c0.dim()}-D) tensors")
            else:
                if h0.dim() != 2 or c0.dim() != 2:
                    raise RuntimeError("For unbatched 2-D input, hx and cx should also be 2-D but got "
                                       f"({h0.dim()}-D, {c0.dim()}-D) tensors")
                h0, c0 = h0.unsqueeze(1), c0.unsqueeze(1)
        self._check_hidden(h0, exp_h, "Expected hidden[0] size {}, got {}")
        self._check_hidden(c0, exp_c, "Expected hidden[1] size {}, got {}")
        out, h_n, c_n = self._run(input, h0, c0)
        h_n, c_n = stack(h_n, 0), stack(c_n, 0)
        if not is_batched:
            out, h_n, c_n = _unbatch(out, self.batch_first), h_n.squeeze(1), c_n.squeeze(1)
        return out, (h_n, c_n)


# ---- cells -----------------------------------------------------------------------------------------
class RNNCellBase(Module):
    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.weight_ih = Parameter(empty((num_chunks * hidden_size, input_size), **kw))
        self.weight_hh = Parameter(empty((num_chunks * hidden_size, hidden_size), **kw))
        if bias:
            self.bias_ih = Parameter(empty(num_chunks * hidden_size, **kw))
            self.bias_hh = Parameter(empty(num_chunks * hidden_size, **kw))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def extra_repr(self):
        s = "{input_size}, {hidden_size}"
        if "bias" in self.__dict__ and self.bias is not True:
            s += ", bias={bias}"
        if "nonlinearity" in self.__dict__ and self.nonlinearity != "tanh":
            s += ", nonlinearity={nonlinearity}"
        return s.format(**self.__dict__)

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def _batched(self, input, name, hidden=()):
        """input as a batch (unbatched 1-D input gains one), checked as torch checks it."""
        if input.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        for label, h in hidden:
            if h.dim() not in (1, 2):
                raise ValueError(f"{name}: Expected {label} to be 1D or 2D, got {h.dim()}D instead")
        is_batched = input.dim() == 2
        if not is_batched:
            input = input.unsqueeze(0)
        if input.size(1) != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {input.size(1)} expected "
                               f"{self.input_size}")
        return input, is_batched

    def _prepare(self, input, hx, name):
        input, is_batched = self._batched(input, name, [] if hx is None else [("hidden", hx)])
        if hx is None:
            hx = zeros(input.size(0), self.hidden_size, dtype=input.dtype, device=input.device)
        elif not is_batched:
            hx = hx.unsqueeze(0)
        return input, hx, is_batched

    def _check_hidden(self, input, hx, n):
        if hx.size(0) != input.size(0):
            raise RuntimeError(f"Input batch size {input.size(0)} doesn't match hidden{n} batch size "
                               f"{hx.size(0)}")
        if hx.size(1) != self.hidden_size:
            raise RuntimeError(f"hidden{n} has inconsistent hidden_size: got {hx.size(1)}, expected "
                               f"{self.hidden_size}")


class RNNCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        input, hx, is_batched = self._prepare(input, hx, "RNNCell")
        self._check_hidden(input, hx, "0")
        if self.nonlinearity not in ("tanh", "relu"):
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        b = self.bias_ih + self.bias_hh if self.bias else None
        ret = _rnn_step(_proj(input, self.weight_ih, b), hx, self.weight_hh, self.nonlinearity)
        return ret if is_batched else ret.squeeze(0)


class LSTMCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        input, is_batched = self._batched(input, "LSTMCell",
                                          [] if hx is None else [(f"hx[{i}]", v) for i, v in enumerate(hx)])
        if hx is None:
            z = zeros(input.size(0), self.hidden_size, dtype=input.dtype, device=input.device)
            h, c = z, z
        else:
            h, c = (hx[0], hx[1]) if is_batched else (hx[0].unsqueeze(0), hx[1].unsqueeze(0))
        self._check_hidden(input, h, "0")
        self._check_hidden(input, c, "1")
        b = self.bias_ih + self.bias_hh if self.bias else None
        h, c = _lstm_step(_proj(input, self.weight_ih, b), h, c, self.weight_hh, None)
        return (h, c) if is_batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        input, hx, is_batched = self._prepare(input, hx, "GRUCell")
        self._check_hidden(input, hx, "0")
        ret = _gru_step(_proj(input, self.weight_ih, self.bias_ih), hx, self.weight_hh, self.bias_hh,
                        self.hidden_size)
        return ret if is_batched else ret.squeeze(0)
