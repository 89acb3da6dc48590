"""Forward and reverse mode side by side, on the same graph, with what each costs.

Both modes read the same local derivatives off the same edges. Forward mode runs one pass per
input and gets a column of the Jacobian from each (every node's tangent d node / d input); reverse
mode runs one pass per output and gets a row from each (every node's gradient d output / d node).
:func:`modes_html` writes one offline page with the graph in the middle, the forward passes on the
left and the reverse passes on the right, each pass listing the number it gave every node, and the
cost of each mode counted in passes and in multiply-adds (one per edge and pass).

>>> from autodiff import Value
>>> a, b = Value(2.0, label="a"), Value(3.0, label="b")
>>> f = a * b + a
>>> f.label = "f"
>>> cost = mode_costs([f], [a, b])
>>> cost["forward"]["passes"], cost["reverse"]["passes"], cost["edges"]
(2, 1, 4)
>>> page = modes_html([f], [a, b])
>>> "Forward mode" in page and "Reverse mode" in page and "<svg" in page
True
"""

from __future__ import annotations

import html
from typing import Optional, Sequence, Union

from .. import fmt
from ..forward import forward_order, forward_steps
from ..graph import steps
from ..value import Value

__all__ = ["modes_html", "mode_costs"]


def _as_list(values: Union[Value, Sequence[Value]], what: str) -> list[Value]:
    found = [values] if isinstance(values, Value) else list(values)
    if not found or not all(isinstance(v, Value) for v in found):
        raise TypeError(f"modes_html needs a Value or a non-empty list of Values as {what}")
    return found


def mode_costs(outputs: Sequence[Value], inputs: Sequence[Value]) -> dict[str, object]:
    """What the whole Jacobian costs each way: passes, and multiply-adds (an edge each, per pass)."""
    edges = sum(len(v.parents) for v in forward_order(list(outputs)))
    return {
        "edges": edges,
        "forward": {"passes": len(inputs), "multiply_adds": len(inputs) * edges},
        "reverse": {"passes": len(outputs), "multiply_adds": len(outputs) * edges},
    }


def _cell(text: str) -> str:
    return f"<td>{html.escape(text)}</td>"


def _table(title: str, rows: list[tuple[str, float]]) -> str:
    body = "".join(f"<tr>{_cell(name)}{_cell(fmt.number(x))}</tr>" for name, x in rows)
    return f"<table><caption>{html.escape(title)}</caption>{body}</table>"


def modes_html(outputs: Union[Value, Sequence[Value]], inputs: Sequence[Value], title: Optional[str] = None,
               renderer: Optional[str] = None) -> str:
    """One offline page: the graph, every forward pass (a column of the Jacobian each) beside every
    reverse pass (a row each), the Jacobian both ways, and what each mode cost. Nothing changes ``.grad``."""
    from ..render import Scene

    outs, ins = _as_list(outputs, "outputs"), _as_list(inputs, "inputs")
    order = forward_order(outs)
    names = {id(v): fmt.name(v) for v in order}
    for x in ins:
        names.setdefault(id(x), fmt.name(x))
    forward_tables, columns = [], []
    for j, x in enumerate(ins):
        tangent = {id(x): 1.0}
        for step in forward_steps(outs, ins, [1.0 if i == j else 0.0 for i in range(len(ins))]):
            tangent[id(step.node)] = step.grad
        columns.append([tangent.get(id(o), 0.0) for o in outs])
        rows = [(names[id(v)], tangent.get(id(v), 0.0)) for v in order]
        forward_tables.append(_table(f"pass {j + 1}: tangents d node / d {names[id(x)]}", rows))
    reverse_tables, jac_rows = [], []
    for i, o in enumerate(outs):
        grads = {id(s.node): s.grad for s in steps(o, leaves_hold=False, record=False)}
        jac_rows.append([grads.get(id(x), 0.0) for x in ins])
        rows = [(names[id(v)], grads.get(id(v), 0.0)) for v in reversed(order) if id(v) in grads]
        reverse_tables.append(_table(f"pass {i + 1}: gradients d {names[id(o)]} / d node", rows))
    cost = mode_costs(outs, ins)

    def jacobian(matrix: list[list[float]], mode: str) -> str:
        head = "".join(f"<th>{html.escape('d/d' + fmt.grouped(names[id(x)]))}</th>" for x in ins)
        body = "".join(f"<tr><th>{html.escape(names[id(o)])}</th>" + "".join(_cell(fmt.number(v)) for v in row) + "</tr>"
                       for o, row in zip(outs, matrix))
        return f"<table class='jacobian'><caption>Jacobian, {mode}</caption><tr><th></th>{head}</tr>{body}</table>"

    def verdict() -> str:
        f, r = cost["forward"], cost["reverse"]
        assert isinstance(f, dict) and isinstance(r, dict)
        if f["passes"] == r["passes"]:
            return f"With {len(ins)} inputs and {len(outs)} outputs the two modes cost the same."
        winner = "forward" if f["passes"] < r["passes"] else "reverse"
        return (f"With {len(ins)} input{'s' * (len(ins) != 1)} and {len(outs)} output{'s' * (len(outs) != 1)}, "
                f"{winner} mode needs fewer passes: a column per input forward, a row per output in reverse.")

    svg = Scene(outs, show_local=True, renderer=renderer).draw().svg()
    svg = svg[svg.index("<svg"):]
    heading = html.escape(fmt.printable(title) if title else "Forward and reverse mode, side by side")
    forward_columns = [[columns[j][i] for j in range(len(ins))] for i in range(len(outs))]
    f, r = cost["forward"], cost["reverse"]
    assert isinstance(f, dict) and isinstance(r, dict)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{heading}</title>
<style>
body {{ font-family: Helvetica, Arial, sans-serif; margin: 12px; color: #0f172a; }}
main {{ display: grid; grid-template-columns: 1fr 2fr 1fr; gap: 12px; }}
table {{ border-collapse: collapse; margin-bottom: 10px; font-size: 13px; font-variant-numeric: tabular-nums; }}
td, th {{ border-bottom: 1px solid #e2e8f0; padding: 2px 6px; text-align: left; }}
caption {{ text-align: left; font-weight: bold; padding: 4px 0; }}
#graph svg {{ max-width: 100%; height: auto; }}
</style>
</head>
<body>
<h1 style="font-size:18px">{heading}</h1>
<p id="verdict">{html.escape(verdict())}</p>
<main>
<section id="forward"><h2 style="font-size:15px">Forward mode: {f["passes"]} pass{"es" * (f["passes"] != 1)},
{f["multiply_adds"]} multiply-adds</h2>{jacobian(forward_columns, "forward mode (column by column)")}{"".join(forward_tables)}</section>
<section id="graph">{svg}</section>
<section id="reverse"><h2 style="font-size:15px">Reverse mode: {r["passes"]} pass{"es" * (r["passes"] != 1)},
{r["multiply_adds"]} multiply-adds</h2>{jacobian(jac_rows, "reverse mode (row by row)")}{"".join(reverse_tables)}</section>
</main>
</body>
</html>
"""
