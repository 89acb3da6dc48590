"""The PyTorch bridge: same outputs, same gradients (transposed), round trips, and a clear error without torch."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import autodiff
import nn


def close(a: float, b: float, tol: float = 1e-12) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


CASES = [(seed, act, x, t) for seed in (0, 1, 2) for act in ("tanh", "relu", "sigmoid")
         for x, t in (([0.5, -1.0], [1.0, 0.0]), ([-1.7, 0.3], [0.2, -0.9]))]


@pytest.mark.parametrize("seed, activation, x, target", CASES)
def test_outputs_and_gradients_match_torch(seed, activation, x, target):
    model = nn.MLP(2, [3, 2], activation=activation, seed=seed)
    net = nn.to_torch(model)
    out = net(torch.tensor([x], dtype=torch.float64))
    for ours, theirs in zip(model(x), out[0].tolist()):
        assert close(ours.data, theirs)
    report = nn.compare_with_torch(model, x, target)
    assert [layer.ours_shape for layer in report.layers] == [(2, 3), (3, 2)]
    assert [layer.torch_shape for layer in report.layers] == [(3, 2), (2, 3)]
    loss = nn.mse_loss(model(x), target)
    loss.backward()
    for layer, ours in zip(report.layers, model.layers):
        assert layer.ours == ours.weight_grads()  # compare_with_torch used autodiff.grad: the same numbers
        for i in range(ours.nin):
            for j in range(ours.nout):
                assert close(ours.weight_grads()[i][j], layer.torch[j][i])
        assert layer.max_difference <= 1e-12 and layer.bias_max_difference <= 1e-12
    assert close(report.loss, report.torch_loss)


def test_sse_loss_and_deeper_networks():
    model = nn.MLP(3, [4, 5, 2], activation="tanh", out_activation="sigmoid", seed=9)
    report = nn.compare_with_torch(model, [0.1, -0.2, 0.3], [0.0, 1.0], loss="sse")
    assert len(report.layers) == 3 and max(layer.max_difference for layer in report.layers) <= 1e-12


def test_compare_leaves_grads_alone():
    model = nn.MLP(2, [3, 2], seed=0)
    nn.compare_with_torch(model, [1.0, 1.0], [0.0, 0.0])
    assert all(p.grad == 0.0 for p in model.parameters())


@pytest.mark.parametrize("activation, out", [("tanh", "linear"), ("relu", "sigmoid"), ("sigmoid", "tanh")])
def test_round_trip_keeps_every_parameter(activation, out):
    model = nn.MLP(2, [3, 4, 2], activation=activation, out_activation=out, seed=5)
    back = nn.from_torch(nn.to_torch(model))
    assert [layer.activation for layer in back.layers] == [layer.activation for layer in model.layers]
    assert [(n, p.data) for n, p in back.named_parameters()] == [(n, p.data) for n, p in model.named_parameters()]


def test_from_torch_reads_a_float32_module_and_refuses_others():
    torch.manual_seed(0)
    seq = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))
    model = nn.from_torch(seq)
    assert model.sizes == [2, 3, 1] and model.layers[0].weights[1][2].data == seq[0].weight[2, 1].item()
    with pytest.raises(ValueError, match="part 1 is Softmax"):
        nn.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Softmax(dim=1)))
    with pytest.raises(ValueError, match="mixes relu, tanh"):
        nn.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1)))
    with pytest.raises(ValueError, match="do not chain"):
        nn.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(4, 1)))


def test_without_torch_a_clear_error_and_no_import_at_module_level():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import autodiff, nn\n"
        "from nn import demo\n"
        "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
        "try:\n"
        "    nn.to_torch(nn.MLP(2, [3, 2]))\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "pip install torch" in done.stdout and "machines" not in done.stdout


def test_demo_with_torch_prints_both_shapes(tmp_path):
    import contextlib
    import io

    from nn.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["demo", "--torch", "--out", str(tmp_path)]) == 0
    text = out.getvalue()
    assert "ours dloss/dW1 is 2x3 (in x out)" in text and "weight.grad is 3x2 (out x in)" in text
    assert "ours dloss/dW2 is 3x2 (in x out)" in text and "weight.grad is 2x3 (out x in)" in text
    assert "They are transposes because torch.nn.Linear stores its weight as (out_features x in_features)" in text
    assert autodiff.__version__
