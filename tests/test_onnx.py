"""wgtorch.onnx.export: models traced on cpu and wgpu, checked with onnx's full checker and run
with onnxruntime against wgtorch's own outputs, at the traced batch size and another one."""
import io
import math

import numpy as np
import pytest

import wgtorch as torch
import wgtorch.nn as nn
import wgtorch.nn.functional as F
import wgtorch.onnx
from wgtorch.nn.functional import relu as imported_relu

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

TOL = 1e-5  # the bound, on the largest absolute difference


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.GELU(), nn.Linear(16, 8),
                                 nn.Sigmoid())
        self.out = nn.Linear(8, 3)

    def forward(self, x):
        h = self.net(x)
        return F.softmax(self.out(torch.tanh(h) * 2 - 1), dim=-1)


def cnn():
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Conv2d(8, 6, 3, stride=1), nn.BatchNorm2d(6), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 2 * 2, 5))
    for bn in (m[1], m[5]):  # running statistics other than 0 and 1, so BatchNormalization is tested
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.normal_()
    return m


class Attention(nn.Module):
    """nanoGPT's causal self-attention: a tril mask buffer, masked_fill and softmax."""

    def __init__(self, C, n_head, block):
        super().__init__()
        self.c_attn, self.c_proj, self.n_head = nn.Linear(C, 3 * C), nn.Linear(C, C), n_head
        self.register_buffer("bias", torch.tril(torch.ones(block, block)).view(1, 1, block, block))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class Block(nn.Module):
    def __init__(self, C, n_head, block):
        super().__init__()
        self.ln_1, self.attn, self.ln_2 = nn.LayerNorm(C), Attention(C, n_head, block), nn.LayerNorm(C)
        self.mlp = nn.Sequential(nn.Linear(C, 4 * C), nn.GELU(), nn.Linear(4 * C, C))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, vocab=13, C=16, n_head=2, block=8, layers=2):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, C), nn.Embedding(block, C)
        self.h = nn.ModuleList([Block(C, n_head, block) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(C)
        self.lm_head = nn.Linear(C, vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # tied

    def forward(self, idx):
        B, T = idx.shape
        pos = torch.arange(0, T, dtype=torch.long, device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def export_and_compare(model, x, others, device, tmp_path, name):
    """Export with a dynamic batch axis; returns the loaded ONNX model after comparing onnxruntime's
    outputs with wgtorch's on x and on each input of `others` (other batch sizes)."""
    model = model.to(device).eval()
    x = x.to(device)
    path = str(tmp_path / f"{name}.onnx")
    wgtorch.onnx.export(model, (x,), path, input_names=["x"], output_names=["y"],
                        dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    assert m.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert m.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for xi in [x] + [o.to(device) for o in others]:
        with torch.no_grad():
            want = model(xi).cpu().numpy()
        got = sess.run(None, {"x": xi.cpu().numpy()})[0]
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= TOL, (name, xi.shape, np.abs(got - want).max())
    return m


def ops_of(m):
    return [n.op_type for n in m.graph.node]


def test_mlp(device, tmp_path):
    torch.manual_seed(0)
    m = export_and_compare(MLP(), torch.randn(4, 8), [torch.randn(7, 8), torch.randn(1, 8)], device, tmp_path, "mlp")
    ops = ops_of(m)
    assert ops.count("Gemm") == 4 and "Relu" in ops and "Erf" in ops and "Softmax" in ops and "Tanh" in ops
    assert len(m.graph.initializer) >= 8  # 4 weights + 4 biases


def test_cnn(device, tmp_path):
    torch.manual_seed(1)
    m = export_and_compare(cnn(), torch.randn(2, 3, 8, 8), [torch.randn(5, 3, 8, 8)], device, tmp_path, "cnn")
    ops = ops_of(m)
    for op in ("Conv", "BatchNormalization", "MaxPool", "Flatten", "Gemm"):
        assert op in ops
    assert ops.count("Conv") == 2 and ops.count("BatchNormalization") == 2
    names = {i.name for i in m.graph.initializer}
    assert {"1.running_mean", "1.running_var", "0.weight"} <= names


def test_gpt(device, tmp_path):
    torch.manual_seed(2)
    model = GPT()
    m = export_and_compare(model, torch.randint(0, 13, (2, 6)), [torch.randint(0, 13, (5, 6))], device,
                           tmp_path, "gpt")
    ops = ops_of(m)
    for op in ("Gather", "LayerNormalization", "Split", "Reshape", "Transpose", "MatMul", "Where", "Softmax",
               "Erf"):
        assert op in ops
    assert ops.count("LayerNormalization") == 5  # 2 per block + ln_f: recorded once each, not their internals
    assert ops.count("Softmax") == 2
    # the tied head: one initializer for the token embedding, used by Gather and by the head
    tied = [i for i in m.graph.initializer if tuple(i.dims) == (13, 16)]
    assert [i.name for i in tied] == ["wte.weight"]
    assert m.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64


def test_composite_without_mapping_exports_through_its_ops(tmp_path):
    # F.logsigmoid has no mapping of its own: the ops it runs are recorded instead
    class M(nn.Module):
        def forward(self, x):
            return F.logsigmoid(x) + F.softplus(x)

    x = torch.randn(3, 5)
    m = export_and_compare(M(), x, [torch.randn(6, 5)], "cpu", tmp_path, "logsigmoid")
    assert "Softplus" in ops_of(m)


def test_unsupported_op_is_named():
    class M(nn.Module):
        def forward(self, x):
            return torch.cumsum(x, 1) * 2

    with pytest.raises(wgtorch.onnx.UnsupportedOperatorError, match="'cumsum'"):
        wgtorch.onnx.export(M(), torch.randn(2, 3), io.BytesIO())


def test_batch_dependent_constant_is_refused():
    # a tensor created in forward from the batch size would be frozen into the graph
    class M(nn.Module):
        def forward(self, x):
            return x + torch.zeros(x.shape[0], 3)

    with pytest.raises(wgtorch.onnx.UnsupportedOperatorError, match="dynamic axes"):
        wgtorch.onnx.export(M(), torch.randn(2, 3), io.BytesIO(), input_names=["x"], dynamic_axes={"x": [0]})
    # without a dynamic axis it is a constant, and exporting is fine
    f = io.BytesIO()
    wgtorch.onnx.export(M(), torch.randn(2, 3), f)
    onnx.checker.check_model(onnx.load_from_string(f.getvalue()), full_check=True)


def test_reshape_merging_the_batch_axis(tmp_path):
    # view(B * T, C) merges the dynamic axis: exported with -1, valid at other batch sizes
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 2)

        def forward(self, x):
            B, T, C = x.shape
            return self.lin(x.view(B * T, C)).view(B, T * 2)

    torch.manual_seed(3)
    export_and_compare(M(), torch.randn(3, 5, 4), [torch.randn(2, 5, 4), torch.randn(6, 5, 4)], "cpu", tmp_path,
                       "merge")


class _Fails(nn.Module):
    def forward(self, x):
        x.relu() + 1  # noqa: B018  (an op, then the error)
        raise ValueError("forward failed")


def test_export_restores_the_entry_points():
    from wgtorch import _intercept
    from wgtorch.nn.modules import linear as linear_module
    from wgtorch.tensor import Tensor

    def entry_points():
        return (Tensor.__add__, Tensor.__dict__["T"], Tensor.relu, F.linear, F.layer_norm, torch.matmul,
                linear_module.addmm)

    before = entry_points()
    wgtorch.onnx.export(nn.Sequential(nn.Linear(2, 2), nn.ReLU()), torch.randn(1, 2), io.BytesIO())
    with pytest.raises(ValueError, match="forward failed"):  # an error inside the trace
        wgtorch.onnx.export(_Fails(), torch.randn(1, 2), io.BytesIO())
    assert all(a is b for a, b in zip(before, entry_points()))
    assert not _intercept.active()


class _Fn(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


# one-input functions over a (batch, 4, 6) float input; each is exported with a dynamic batch and
# compared with onnxruntime at two batch sizes
_CASES = {
    "arith": lambda x: (2 - x) * 3 + x / 2 - 1 / (x.abs() + 1) + x ** 2 - x.pow(3) * 0.1 + (x - x.mean()),
    "unary": lambda x: x.exp().log() + x.sin() + x.cos() + x.abs().sqrt() + (x.abs() + 1).rsqrt() + x.neg()
    + x.sign() + x.floor() + x.ceil() + x.erf() + x.square() + x.clamp(-0.5, 0.5) + x.clamp(min=0.1)
    + x.asinh() + (x.abs() + 1).acosh() + (x * 0.3).tanh().atanh(),
    "activations": lambda x: F.leaky_relu(x, 0.2) + F.silu(x) + F.hardtanh(x) + F.elu(x) + F.relu6(x)
    + F.gelu(x, approximate="tanh") + F.hardsigmoid(x) + F.hardswish(x) + F.log_softmax(x, -1) + F.softsign(x),
    "reductions": lambda x: x.sum(-1, keepdim=True) + x.mean((1, 2), keepdim=True) + x.amax(1, keepdim=True)
    + x.max(-1, keepdim=True)[0] + x.logsumexp(-1, keepdim=True),
    "argmax": lambda x: x.argmax(-1),
    "compare": lambda x: torch.where(x > 0, x, x * 0.1) + (x <= 0.3).float() + (x == x).float()
    + ((x > 0) & (x < 1)).float() + (x != 0).logical_not().float() + x.where(x < 0.5, 0.5) + x.masked_fill(x > 1, 1),
    "shapes": lambda x: torch.cat([x, x * 2], dim=1).permute(0, 2, 1).reshape(-1, 4, 2, 6).sum(2)
    + torch.stack([x, x + 1], dim=-1).mean(-1).transpose(1, 2).transpose(1, 2).repeat(1, 1, 2).narrow(2, 3, 6)
    + x.flatten(1).unflatten(1, (4, 6)) + x.reshape(x.shape[0], 4, 6).permute(2, 0, 1).permute(1, 2, 0),
    "indexing": lambda x: x[:, 1:3, ::2] + x[:, None, -1, 1:4].squeeze(1).unsqueeze(1)
    + x[:, 0:1, 0:1].expand(-1, 2, 3) + x[:, 2].unsqueeze(1)[:, :, :3] + x[:, torch.tensor([0, 3])][..., 1:4],
    "chunk": lambda x: sum(t * (i + 1) for i, t in enumerate(x.chunk(3, dim=-1))) + x.unbind(1)[2].unsqueeze(1)[..., :2],
    "sdpa_causal": lambda x: F.scaled_dot_product_attention(x, x * 0.5, x + 1, is_causal=True),
    "sdpa_mask": lambda x: F.scaled_dot_product_attention(x, x, x, attn_mask=torch.ones(4, 4, dtype=torch.bool)
                                                          .tril()),
    "pad_pool": lambda x: F.avg_pool1d(F.pad(x, (1, 1)), 2) + F.max_pool1d(x, 3, stride=1, padding=1)[..., :4]
    + F.adaptive_avg_pool1d(x, 1),
    "dtype": lambda x: (x * 4).long().float() + x.to(torch.float32) + (x > 0).int().float() + x.detach().clone(),
}


@pytest.mark.parametrize("case", sorted(_CASES))
def test_op_coverage(case, tmp_path):
    torch.manual_seed(4)
    export_and_compare(_Fn(_CASES[case]), torch.randn(2, 4, 6), [torch.randn(3, 4, 6)], "cpu", tmp_path, case)


def test_functions_imported_by_name_are_traced(tmp_path):
    # `from ... import relu` (at the top of this file) binds the function in this module: traced too
    class M(nn.Module):
        def forward(self, x):
            return imported_relu(x) * 2

    m = export_and_compare(M(), torch.randn(2, 3), [torch.randn(4, 3)], "cpu", tmp_path, "imported")
    assert ops_of(m)[0] == "Relu"


def test_functions_kept_in_attributes_are_traced(tmp_path):
    # nn.TransformerEncoderLayer keeps its activation as `self.activation = F.relu`
    torch.manual_seed(5)
    layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)
    m = export_and_compare(layer, torch.randn(2, 5, 16), [torch.randn(3, 5, 16)], "cpu", tmp_path, "encoder")
    assert "Relu" in ops_of(m) and "Softmax" in ops_of(m)


def test_untraced_value_from_parameters_is_refused():
    act = [F.relu]  # a reference the tracer cannot replace (inside a list)

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 3)

        def forward(self, x):
            return act[0](self.lin(x)) + 1

    with pytest.raises(wgtorch.onnx.UnsupportedOperatorError, match="did not see"):
        wgtorch.onnx.export(M(), torch.randn(2, 3), io.BytesIO())


def test_in_place_writes():
    class Set(nn.Module):
        def forward(self, x):
            y = x * 2
            y[:, 0] = 0  # setitem has no mapping: y's later value is unknown
            return y + 1

    with pytest.raises(wgtorch.onnx.UnsupportedOperatorError, match="'setitem'"):
        wgtorch.onnx.export(Set(), torch.randn(2, 3), io.BytesIO())

    class InPlace(nn.Module):  # mapped in-place ops rebind the tensor to the new value
        def forward(self, x):
            y = x * 2
            y.add_(1).relu_()
            return y.mul_(3)

    f = io.BytesIO()
    x = torch.randn(4, 3)
    wgtorch.onnx.export(InPlace(), x, f, input_names=["x"])
    got = ort.InferenceSession(f.getvalue(), providers=["CPUExecutionProvider"]).run(None, {"x": x.numpy()})[0]
    np.testing.assert_allclose(got, InPlace()(x).numpy(), atol=1e-6)
