"""autodiff: a scalar autograd engine where every number of backprop can be seen.

>>> import autodiff
>>> x = autodiff.Value(0.5, label="x")
>>> y = (2 * x).tanh()
>>> y.backward()
>>> round(x.grad, 4)
0.8399
"""

from .checks import detect_anomaly, gradcheck, gradgradcheck
from .compile import Program, compile
from .debug import Debugger, StepRecord, page_html, record_steps, stepper
from .derivative import DerivativeCheck, check_derivative, derivative_formula
from .diagnose import Diagnosis, diagnose, nan_origin, record_origins
from .forward import Jacobian, forward_steps, jacobian, jvp
from .graph import (
    Contribution,
    Step,
    backward,
    backward_order,
    backward_steps,
    grad,
    steps,
    topological_order,
    walk,
)
from .higher import hessian, hvp
from .ops import RULES, Rule
from .render import Graph, RendererNotAvailable, RenderError, draw
from .scope import name_scope
from .trace import Path, Paths, Trace, trace
from .value import RemovableHandle, Value

__version__ = "0.1.0"

__all__ = [
    "Value",
    "RemovableHandle",
    "Rule",
    "RULES",
    "topological_order",
    "backward_order",
    "walk",
    "steps",
    "jvp",
    "jacobian",
    "Jacobian",
    "forward_steps",
    "hessian",
    "hvp",
    "backward",
    "grad",
    "backward_steps",
    "Step",
    "Contribution",
    "gradcheck",
    "gradgradcheck",
    "detect_anomaly",
    "name_scope",
    "draw",
    "compile",
    "Program",
    "Debugger",
    "StepRecord",
    "record_steps",
    "page_html",
    "stepper",
    "trace",
    "check_derivative",
    "derivative_formula",
    "DerivativeCheck",
    "Trace",
    "Path",
    "Paths",
    "Graph",
    "RenderError",
    "RendererNotAvailable",
    "diagnose",
    "Diagnosis",
    "nan_origin",
    "record_origins",
    "__version__",
]
