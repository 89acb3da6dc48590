"""nn: the 2-3-2 network's weight-gradient matrices against the matrix rules in nn.reference."""

from __future__ import annotations

import math
import random

import pytest

import autodiff
import nn
from autodiff import Value

ACTS = ["tanh", "relu", "sigmoid", "linear"]


def rel_close(a: float, b: float, rel: float = 1e-12) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300) or abs(a - b) < 1e-15


def assert_matrix_close(got, want):
    assert len(got) == len(want)
    for g_row, w_row in zip(got, want):
        assert len(g_row) == len(w_row)
        for g, w in zip(g_row, w_row):
            assert rel_close(g, w), (g, w)


@pytest.mark.parametrize("activation", ACTS)
@pytest.mark.parametrize("loss_name", ["mse", "sse"])
@pytest.mark.parametrize("seed", range(8))
def test_weight_grads_equal_the_matrix_rules(activation, loss_name, seed):
    rng = random.Random(1000 + seed)
    model = nn.MLP(2, [3, 2], activation=activation, seed=seed)
    x = [rng.uniform(-2, 2), rng.uniform(-2, 2)]
    t = [rng.uniform(-1, 1), rng.uniform(-1, 1)]
    loss_fn = nn.mse_loss if loss_name == "mse" else nn.sse_loss
    loss = loss_fn(model(x), t)
    loss.backward()
    ref = nn.reference.from_model(model, x, t, loss=loss_name)
    assert rel_close(loss.data, ref.loss)
    W_ij, W_jk = model.layers[0].weight_grads(), model.layers[1].weight_grads()
    assert [len(W_ij), len(W_ij[0])] == [2, 3] and all(len(r) == 3 for r in W_ij)
    assert [len(W_jk), len(W_jk[0])] == [3, 2] and all(len(r) == 2 for r in W_jk)
    assert_matrix_close(W_ij, ref.weight_grads[0])
    assert_matrix_close(W_jk, ref.weight_grads[1])
    assert_matrix_close([model.layers[0].bias_grads()], [ref.bias_grads[0]])
    assert_matrix_close([model.layers[1].bias_grads()], [ref.bias_grads[1]])


def test_the_rules_themselves_on_the_2_3_2_network():
    """dW_jk = outer(h, delta); delta_hidden = (W_jk . delta) * g'(z1); dW_ij = outer(x, delta_hidden)."""
    model = nn.MLP(2, [3, 2], activation="tanh", seed=3)
    x, t = [0.4, -0.9], [0.5, -0.25]
    loss = nn.sse_loss(model(x), t)
    loss.backward()
    by_label = {v.label: v.data for v in autodiff.topological_order(loss)}
    hidden = [by_label[f"h1[{j}]"] for j in range(3)]
    outputs = [by_label[f"y[{k}]"] for k in range(2)]
    delta = [y - tk for y, tk in zip(outputs, t)]  # linear output, half-SSE loss
    W_jk = [[w.data for w in row] for row in model.layers[1].weights]
    assert_matrix_close(model.layers[1].weight_grads(), [[hj * dk for dk in delta] for hj in hidden])
    back = [sum(W_jk[j][k] * delta[k] for k in range(2)) for j in range(3)]  # 3 x 2 times 2 -> 3
    delta_hidden = [b * (1 - hj * hj) for b, hj in zip(back, hidden)]
    assert_matrix_close(model.layers[0].weight_grads(), [[xi * dj for dj in delta_hidden] for xi in x])


@pytest.mark.parametrize("activation", ACTS)
def test_forward_is_x_W1_b1_g_W2_b2(activation):
    model = nn.MLP(2, [3, 2], activation=activation, seed=11)
    x = [0.3, -1.2]
    g = {"tanh": math.tanh, "relu": lambda z: max(z, 0.0), "sigmoid": lambda z: 1 / (1 + math.exp(-z)), "linear": lambda z: z}[activation]
    W1 = [[w.data for w in row] for row in model.layers[0].weights]
    W2 = [[w.data for w in row] for row in model.layers[1].weights]
    b1 = [b.data for b in model.layers[0].biases]
    b2 = [b.data for b in model.layers[1].biases]
    h = [g(sum(x[i] * W1[i][j] for i in range(2)) + b1[j]) for j in range(3)]
    y = [sum(h[j] * W2[j][k] for j in range(3)) + b2[k] for k in range(2)]
    out = model(x)
    assert len(out) == 2
    for got, want in zip(out, y):
        assert math.isclose(got.data, want, rel_tol=1e-12, abs_tol=1e-15)


def test_labels_scopes_and_parameter_names():
    model = nn.MLP(2, [3, 2], seed=0)
    loss = nn.mse_loss(model([1.0, 2.0]), [0.0, 1.0])
    labels = {v.label for v in autodiff.topological_order(loss)}
    for name in ["W1[1][2]", "W2[2][1]", "b1[0]", "b2[1]", "z1[2]", "h1[2]", "y[0]", "y[1]", "x[0]", "t[1]", "loss"]:
        assert name in labels
    names = [n for n, _ in model.named_parameters()]
    assert names[:7] == ["W1[0][0]", "W1[0][1]", "W1[0][2]", "W1[1][0]", "W1[1][1]", "W1[1][2]", "b1[0]"]
    assert len(names) == 2 * 3 + 3 + 3 * 2 + 2 == len(set(names))
    assert model.parameter("W2[2][1]") is model.layers[1].weights[2][1]
    with pytest.raises(KeyError, match="valid names: W1\\[0\\]\\[0\\]"):
        model.parameter("W3[0][0]")
    h12 = next(v for v in autodiff.topological_order(loss) if v.label == "h1[2]")
    assert h12.scope == ("layer 1", "neuron 2")
    assert model.parameter("W2[0][1]").scope == ("layer 2", "neuron 1")


def test_matrix_views_are_the_model():
    model = nn.MLP(2, [3, 2], seed=0)
    before = model([1.0, 1.0])[0].data
    model.layers[1].weights[0][0].data += 1.0
    after = model([1.0, 1.0])[0].data
    hidden0 = next(v for v in autodiff.topological_order(model([1.0, 1.0])[0]) if v.label == "h1[0]").data
    assert math.isclose(after - before, hidden0)


def test_seed_is_reproducible_and_local():
    random.seed(5)
    state = random.getstate()
    a = [p.data for p in nn.MLP(2, [3, 2], seed=42).parameters()]
    b = [p.data for p in nn.MLP(2, [3, 2], seed=42).parameters()]
    c = [p.data for p in nn.MLP(2, [3, 2], seed=43).parameters()]
    assert a == b != c
    assert random.getstate() == state


def test_out_activation_and_one_output():
    model = nn.MLP(3, [4, 1], activation="relu", out_activation="sigmoid", seed=1)
    out = model([Value(1.0), 2, 3.0])
    assert isinstance(out, list) and len(out) == 1 and 0 < out[0].data < 1
    assert out[0].op == "sigmoid" and out[0].label == "y[0]"
    assert out[0].parents[0].label == "z2[0]"


@pytest.mark.parametrize(
    "make, kind, words",
    [
        (lambda: nn.MLP(2, [3, 2], activation="softmax"), ValueError, "tanh, relu, sigmoid, linear"),
        (lambda: nn.MLP(2, [3, 2], out_activation="gelu"), ValueError, "out_activation"),
        (lambda: nn.MLP(0, [3]), ValueError, "nin"),
        (lambda: nn.MLP(2, 3), ValueError, "nouts"),
        (lambda: nn.MLP(2, [3, 0]), ValueError, "layer size"),
        (lambda: nn.MLP(2, [3, 2])([1.0]), ValueError, "2 inputs, got 1"),
        (lambda: nn.mse_loss([Value(1.0)], [1.0, 2.0]), ValueError, "1 outputs but 2 targets"),
        (lambda: nn.SGD([Value(1.0)], lr=-1), ValueError, "lr"),
        (lambda: nn.SGD([1.0], lr=0.1), TypeError, "float"),
    ],
)
def test_bad_input_is_named(make, kind, words):
    with pytest.raises(kind, match=words.replace("[", "\\[")):
        make()


def test_training_the_2_3_2_network_lowers_the_loss_tenfold():
    data = [([0.0, 0.0], [0.0, 1.0]), ([0.0, 1.0], [1.0, 0.0]), ([1.0, 0.0], [1.0, 0.0]), ([1.0, 1.0], [0.0, 1.0])]
    model = nn.MLP(2, [3, 2], activation="tanh", seed=2)
    opt = nn.SGD(model.parameters(), lr=0.2)

    def total_loss():
        return sum(nn.mse_loss(model(x), t).data for x, t in data)

    start = total_loss()
    for _ in range(800):
        opt.zero_grad()
        for x, t in data:
            nn.mse_loss(model(x), t).backward()
        opt.step()
    assert total_loss() < start / 10


def test_gradcheck_on_the_whole_network():
    model = nn.MLP(2, [3, 2], activation="tanh", seed=4)
    params = model.parameters()
    assert autodiff.gradcheck(lambda *ps: nn.mse_loss(model([0.7, -0.2]), [0.3, -0.6]), params)


def test_zero_grad():
    model = nn.MLP(2, [3, 2], seed=0)
    nn.mse_loss(model([1.0, 1.0]), [0.0, 0.0]).backward()
    assert any(p.grad for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())
