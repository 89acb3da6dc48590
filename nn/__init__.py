"""nn: neurons, layers and MLPs composed from :class:`autodiff.Value` scalars.

>>> import nn
>>> model = nn.MLP(2, [3, 2], seed=0)
>>> [len(model.layers[0].weights), len(model.layers[0].weights[0])]  # W_ij: 2 x 3
[2, 3]
>>> [len(model.layers[1].weights), len(model.layers[1].weights[0])]  # W_jk: 3 x 2
[3, 2]
>>> loss = nn.mse_loss(model([0.5, -1.0]), [1.0, 0.0])
>>> loss.backward()
>>> model.parameter("W1[0][2]").grad == model.layers[0].weight_grads()[0][2]
True
"""

from . import reference
from .check import FormulaReport, check_formula
from .compiled import CompiledStep, compile_step
from .data import moons
from .diagnose import History, NetworkDiagnosis, diagnose, train
from .explainer import explainer_html
from .layers import ACTIVATIONS, MLP, Layer, Neuron
from .losses import mse_loss, sse_loss
from .module import Module
from .optim import SGD
from .quiz import make_quiz
from .quiz_page import quiz_html
from .torch_bridge import compare_with_torch, from_torch, to_torch
from .widget import explainer_widget

__all__ = [
    "Module",
    "Neuron",
    "Layer",
    "MLP",
    "ACTIVATIONS",
    "mse_loss",
    "sse_loss",
    "SGD",
    "compile_step",
    "CompiledStep",
    "reference",
    "moons",
    "to_torch",
    "from_torch",
    "compare_with_torch",
    "check_formula",
    "FormulaReport",
    "make_quiz",
    "quiz_html",
    "diagnose",
    "NetworkDiagnosis",
    "train",
    "History",
    "explainer_html",
    "explainer_widget",
]
