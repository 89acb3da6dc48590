"""Stepping through backprop: the step record and its front ends (terminal, HTML page, notebook)."""

from .modes import mode_costs, modes_html
from .page import Stepper, page_html, stepper
from .record import StepRecord, record_forward, record_steps
from .terminal import Debugger

__all__ = ["StepRecord", "record_steps", "record_forward", "Debugger", "page_html", "Stepper", "stepper", "modes_html", "mode_costs"]
