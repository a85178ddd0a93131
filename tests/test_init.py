import math

import pytest
import torch

from dlnotes import init
from dlnotes.models import DeepMLP, ElmanRNN, LeNet


def big_mlp():
    return DeepMLP(400, hidden=[300], out_features=200)


@pytest.mark.parametrize(
    ("scheme", "std"),
    [
        ("small", 0.01),
        ("large", 10.0),
        ("he", math.sqrt(2 / 400)),
        ("he_normal", math.sqrt(2 / 400)),
        ("he_uniform", math.sqrt(2 / 400)),
        ("lecun", math.sqrt(1 / 400)),
        ("lecun_uniform", math.sqrt(1 / 400)),
        ("xavier", math.sqrt(2 / 700)),
        ("xavier_normal", math.sqrt(2 / 700)),
    ],
)
def test_weight_std_follows_the_scheme(scheme, std):
    model = init.apply(big_mlp(), scheme, seed=0)
    W = model.body[0].weight.detach()  # fan_in 400, fan_out 300
    assert float(W.std()) == pytest.approx(std, rel=0.03)
    assert float(W.mean()) == pytest.approx(0.0, abs=4 * std / math.sqrt(W.numel()))
    assert torch.all(model.body[0].bias == 0)


def test_uniform_schemes_respect_their_bound():
    W = init.apply(big_mlp(), "he_uniform", seed=0).body[0].weight.detach()
    assert float(W.abs().max()) <= math.sqrt(6 / 400)
    W = init.apply(big_mlp(), "xavier_uniform", seed=0).body[0].weight.detach()
    assert float(W.abs().max()) <= math.sqrt(6 / 700)


def test_zeros_constant_normal_and_bias():
    m = init.apply(big_mlp(), "zeros")
    assert all(float(p.detach().abs().sum()) == 0 for p in m.parameters())
    m = init.apply(big_mlp(), "constant", value=0.3, bias=0.1)
    assert torch.all(m.body[0].weight == 0.3) and torch.all(m.body[0].bias == 0.1)
    m = init.apply(big_mlp(), "normal", std=0.2, seed=0)
    assert float(m.body[0].weight.detach().std()) == pytest.approx(0.2, rel=0.03)


def test_conv_fans_include_the_kernel_area():
    assert init.fans(torch.empty(16, 6, 5, 5)) == (150, 400)
    W = init.apply(LeNet(), "he", seed=0).conv2.weight.detach()
    assert float(W.std()) == pytest.approx(math.sqrt(2 / 150), rel=0.1)


def test_rnn_weights_and_batchnorm_gamma():
    rnn = init.apply(ElmanRNN(3, hidden_size=50), "zeros")
    assert float(rnn.rnn.weight_hh.detach().abs().sum()) == 0
    bn = init.apply(DeepMLP(4, hidden=[8], batch_norm=True), "zeros")
    assert torch.all(bn.body[1].weight == 1)  # γ untouched


def test_seed_is_reproducible_and_default_is_noop():
    a = init.apply(big_mlp(), "he", seed=3).body[0].weight.detach()
    b = init.apply(big_mlp(), "he", seed=3).body[0].weight.detach()
    assert torch.equal(a, b)
    torch.manual_seed(0)
    m = big_mlp()
    before = m.body[0].weight.clone()
    assert torch.equal(init.apply(m, "default").body[0].weight, before)


def test_unknown_scheme_names_the_choices():
    with pytest.raises(ValueError, match="xavier"):
        init.apply(big_mlp(), "glorot")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("scheme", ["he", "xavier_uniform", "lecun_normal"])
def test_seeded_init_on_cuda_equals_cpu(scheme):
    """A seeded scheme draws on the CPU and copies to the weights' device, so a model on
    the GPU starts from the same weights as on the CPU."""
    cpu = init.apply(LeNet(), scheme, seed=3)
    cuda = init.apply(LeNet().cuda(), scheme, seed=3)
    for a, b in zip(cpu.parameters(), cuda.parameters(), strict=True):
        assert b.device.type == "cuda"
        torch.testing.assert_close(a, b.cpu(), rtol=0, atol=0)
