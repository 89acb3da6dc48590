"""A terminal debugger for backprop: step through one backward pass as through code.

Commands (a unique prefix is enough)::

    step [N]       apply the next step (or N steps) and show it
    next           run to the next step that changes the watched value's grad
    continue       run to the next breakpoint, or to the end
    break LABEL    stop before the step of the node labelled LABEL, or of a leaf's last
                   contribution (no LABEL: list breakpoints)
    print LABEL    a node's data, grad now, and its local derivatives
    where          the current node, and how many nodes are done and pending
    back [N]       undo one step (or N; past the start stops at it): any earlier state is rebuilt
    graph FILE     write an SVG of this moment: done (green), current (red), pending (grey)
    help           this list
    quit           leave

Steps are numbered from 1, as the HTML page and the notebook number them (they read the same
:attr:`~autodiff.debug.record.StepRecord.shown` steps): one per operation and the root. A leaf or a
constant takes no step of its own; the step that brings its last contribution says that its
gradient is final.

A node is named by its label, or by :func:`autodiff.fmt.name` (its formula) when it has none;
LABEL may be either (``print W1[0][2] * x[0]``). Numbers have 6 significant digits (:func:`autodiff.fmt.number`), and
nothing a label holds reaches the terminal as a control character (:func:`autodiff.fmt.printable`).

It reads commands from a terminal, with line editing and history (the ``readline`` module, where
there is one), or from piped standard input, so sessions can be scripted:

>>> import io
>>> from autodiff import Value
>>> x = Value(3.0, label="x")
>>> y = x * x
>>> y.label = "y"
>>> out = io.StringIO()
>>> Debugger(y, watch="x", stdin=io.StringIO("next\\nprint x\\nquit\\n"), stdout=out).run()
>>> print(out.getvalue())  # doctest: +NORMALIZE_WHITESPACE
backprop from y: 1 step; watching x
next: step 1, node y (*)
(adb) step 1: y (*) grad 1
    -> x: local 3 * grad 1 = 3; grad 0 -> 3
    -> x: local 3 * grad 1 = 3; grad 3 -> 6
    x: grad 6 is final
(adb) x = leaf, data 3, grad 6
(adb)
"""

from __future__ import annotations

import shlex
import sys
from typing import IO, Optional

from .. import fmt
from ..value import Value
from .record import StepRecord, record_forward, record_steps

__all__ = ["Debugger"]

def _steps(n: int) -> str:
    return f"{n} step" if n == 1 else f"{n} steps"


_COMMANDS = ("step", "next", "continue", "break", "print", "where", "back", "graph", "help", "quit")


class Debugger:
    """Step through ``root.backward()`` one node at a time, reading commands from ``stdin``.

    ``watch`` is a label (or a Value) whose gradient ``next`` follows. Nothing here changes any
    ``.grad``: the debugger reads the :class:`~autodiff.debug.record.StepRecord` of the pass.
    With ``forward`` (an input, or its label) it steps through forward mode instead: tangent 1 on
    that input, and each step a node's tangent, d node / d input, parents first.
    """

    prompt = "(adb) "

    def __init__(
        self,
        root: Value,
        watch: Optional[object] = None,
        stdin: Optional[IO[str]] = None,
        stdout: Optional[IO[str]] = None,
        forward: Optional[object] = None,
    ) -> None:
        self.root = root
        if forward is None:
            self.record: StepRecord = record_steps(root)
        else:  # forward mode from that input: each step gives a node's tangent d node / d input
            start = self._find_value(root, forward)
            self.record = record_forward(root, [start], [1.0])
            self.start_name = fmt.name(start)
        self.stdin = stdin if stdin is not None else sys.stdin
        self.stdout = stdout if stdout is not None else sys.stdout
        self.position = 0  # shown steps applied so far; the next one is record.shown[position]
        self.breakpoints: set[int] = set()
        self.watch: Optional[int] = None
        if isinstance(watch, Value):
            found = [i for i, v in enumerate(self.record.values) if v is watch]
            if not found:
                raise ValueError("the watched Value is not in the graph")
            self.watch = found[0]
        elif watch is not None:
            self.watch = self._resolve(str(watch))

    @staticmethod
    def _find_value(root: Value, wanted: object) -> Value:
        """The node of ``root``'s graph that ``wanted`` is (a Value) or names (a label or formula name)."""
        from ..graph import topological_order

        nodes = topological_order(root)
        for v in nodes:
            if v is wanted or (isinstance(wanted, str) and (v.label == wanted or fmt.name(v) == wanted)):
                return v
        raise ValueError(f"no node {fmt.printable(str(wanted))!r} in the graph to start forward mode from")

    @property
    def forward(self) -> bool:
        """True when stepping through forward mode (tangents from an input) rather than backprop."""
        return self.record.mode == "forward"

    @property
    def _number_word(self) -> str:
        return "tangent" if self.forward else "grad"

    @property
    def _finished(self) -> str:
        return "forward mode finished" if self.forward else "backprop finished"

    # -- state ---------------------------------------------------------------------------------
    def _name(self, i: int) -> str:
        """Node ``i`` as every front end names it: :func:`autodiff.fmt.name` (the record's, once it has one)."""
        return self.record.nodes[i].get("name") or fmt.name(self.record.values[i])

    def _wrt_name(self, i: int) -> str:
        """The name after a ``d/d``: a name that is a formula goes in parentheses, ``d/d(a * b)``."""
        return fmt.grouped(self._name(i))

    def _resolve(self, label: str) -> int:
        found = self.record.find(label) or [i for i in range(len(self.record.nodes)) if self._name(i) == label]
        if not found:
            labels = sorted({fmt.printable(n["label"]) for n in self.record.nodes if n["label"]})
            raise ValueError(f"no node labelled {label!r}; labels: {', '.join(labels) or 'none'}")
        return found[0]

    def grads(self) -> list[float]:
        """Every node's gradient at the current position."""
        return self.record.grads_at(self.position)

    @property
    def done(self) -> bool:
        """True once every step has been applied."""
        return self.position >= len(self.record.shown)

    def _say(self, text: str) -> None:
        # Line by line through fmt.printable: whatever a label or an error message holds, no
        # control character (an escape sequence, a bell, a NUL) reaches the user's terminal.
        self.stdout.write("\n".join(fmt.printable(line) for line in text.split("\n")) + "\n")

    def _show_step(self, k: int) -> None:
        """Shown step ``k`` (counted from 0), written as step ``k + 1``, as every front end numbers it."""
        step = self.record.shown[k]
        node = self.record.nodes[step.node_id]
        op = f" ({node['op']})" if node["op"] and node["label"] else ""
        word = self._number_word
        hooked = f" (its hook was given {fmt.number(step.hook)})" if step.hook is not None else ""
        self._say(f"step {k + 1}: {self._name(step.node_id)}{op} {word} {fmt.number(step.grad)}{hooked}")
        tangents = self.record.grads_at(k) if self.forward else []
        for c in step.contributions:
            if self.forward:  # an operand's tangent flows in through the edge
                self._say(
                    f"    <- {self._name(c.parent_id)}: local {fmt.number(c.local)} * tangent "
                    f"{fmt.number(tangents[c.parent_id])} = {fmt.number(c.amount)}; "
                    f"tangent {fmt.number(c.before)} -> {fmt.number(c.after)}"
                )
            else:
                self._say(
                    f"    -> {self._name(c.parent_id)}: local {fmt.number(c.local)} * grad {fmt.number(step.grad)} = "
                    f"{fmt.number(c.amount)}; grad {fmt.number(c.before)} -> {fmt.number(c.after)}"
                )
        for leaf in self.record.completes[k]:  # leaves take no step: their grad is final here
            hooked = f" (its hook was given {fmt.number(leaf.hook)})" if leaf.hook is not None else ""
            self._say(f"    {self._name(leaf.node_id)}: grad {fmt.number(leaf.grad)} is final{hooked}")

    def _where_line(self) -> str:
        if self.done:
            return f"{self._finished}: every {self._number_word} is final"
        step = self.record.shown[self.position]
        node = self.record.nodes[step.node_id]
        return f"next: step {self.position + 1}, node {self._name(step.node_id)}" + (f" ({node['op']})" if node["op"] and node["label"] else "")

    # -- commands ------------------------------------------------------------------------------
    @staticmethod
    def _count(command: str, arg: str) -> int:
        """The N of ``step N`` and ``back N``: 1 when not given, else a positive whole number."""
        if not arg:
            return 1
        try:
            n = int(arg)
        except ValueError:
            raise ValueError(f"{command} takes a count of steps (a whole number), not {arg!r}") from None
        if n < 1:
            raise ValueError(f"{command} takes a positive count, not {n}")
        return n

    def do_step(self, arg: str) -> None:
        """``step [N]``: apply the next step (or N steps) and show each."""
        for _ in range(self._count("step", arg)):
            if self.done:
                self._say(f"{self._finished}: every {self._number_word} is final")
                return
            self._show_step(self.position)
            self.position += 1

    def _changes_watch(self, k: int) -> bool:
        step = self.record.shown[k]
        if self.forward:
            return step.node_id == self.watch
        return any(c.parent_id == self.watch for c in step.contributions)

    def do_next(self, arg: str) -> None:
        """``next``: run to the next step that changes the watched value (without one, ``step``)."""
        if self.watch is None:
            self.do_step("")
            return
        while not self.done:
            k = self.position
            hit = self._changes_watch(k)
            self.position += 1
            if hit:
                self._show_step(k)
                return
        self._say(f"{self._finished}; {self._name(self.watch)}.{self._number_word} = {fmt.number(self.grads()[self.watch])}")

    def do_continue(self, arg: str) -> None:
        """``continue``: run to the next breakpoint, or to the end."""
        first = True
        while not self.done:
            k = self.position
            nodes = {self.record.shown[k].node_id} | {s.node_id for s in self.record.completes[k]}
            if nodes & self.breakpoints and not first:
                self._say(f"breakpoint: {self._where_line()}")
                return
            first = False
            self.position += 1
        self._say(f"{self._finished}: every {self._number_word} is final")

    def do_break(self, arg: str) -> None:
        """``break LABEL``: stop before that node's step; without LABEL, list the breakpoints."""
        if not arg:
            names = ", ".join(self._name(i) for i in sorted(self.breakpoints)) or "none"
            self._say(f"breakpoints: {names}")
            return
        i = self._resolve(arg)
        self.breakpoints.add(i)
        if any(s.node_id == i for s in self.record.shown):
            self._say(f"breakpoint set before the step of {self._name(i)}")
        else:
            self._say(f"breakpoint set before the step that completes the grad of {self._name(i)} (a leaf takes no step)")

    def do_print(self, arg: str) -> None:
        """``print LABEL``: a node's kind, data, number now (grad or tangent) and local derivatives."""
        if not arg:
            raise ValueError("print needs a LABEL")
        i = self._resolve(arg)
        node = self.record.nodes[i]
        text = (f"{self._name(i)} = {node['kind']}, data {fmt.number(node['data'])}, "
                f"{self._number_word} {fmt.number(self.grads()[i])}")
        if node["parents"]:
            locals_ = ", ".join(f"d/d{self._wrt_name(p)} = {fmt.number(loc)}" for p, loc in zip(node["parents"], node["locals"]))
            text += f"; op {node['op']}, local derivatives: {locals_}"
        self._say(text)

    def do_where(self, arg: str) -> None:
        """``where``: the next step, how many are done and pending, and the last nodes done."""
        total = len(self.record.shown)
        self._say(f"{self._where_line()}; {self.position} of {total} steps done, {total - self.position} pending")
        done = [self._name(s.node_id) for s in self.record.shown[: self.position]]
        if done:
            self._say("done: " + ", ".join(done[-8:]) + (f" (and {len(done) - 8} earlier)" if len(done) > 8 else ""))

    def do_back(self, arg: str) -> None:
        """``back [N]``: undo one step (or N), stopping at the start."""
        n = self._count("back", arg)
        if self.position == 0:
            self._say("at the start: nothing to undo")
            return
        self.position = max(0, self.position - n)
        self._say(f"undone; {self._where_line()}")

    def do_graph(self, arg: str) -> None:
        """``graph FILE``: write a drawing of this moment (done, current, pending) to FILE."""
        if not arg:
            raise ValueError("graph needs a FILE name, for example: graph state.svg")
        from ..render import RendererNotAvailable, RenderError, Scene

        values = self.record.values
        grads = self.grads()
        status = {}
        current = None if self.done else self.record.shown[self.position].node_id
        finished = {s.node_id for s in self.record.shown[: self.position]}
        finished.update(s.node_id for c in self.record.completes[: self.position] for s in c)
        for i, v in enumerate(values):
            status[v] = "current" if i == current else "done" if i in finished else "pending"
        try:
            scene = Scene([self.root], grads={v: grads[i] for i, v in enumerate(values)}, status=status)
            path = scene.draw().save(arg)
        except (OSError, RenderError, RendererNotAvailable) as exc:
            # A file that cannot be written (no such folder, no permission, a full disk) or a
            # renderer that fails is one bad command, not the end of the session.
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self._say(f"graph: cannot write {arg}: {' '.join(reason.split())}")
            return
        self._say(f"wrote {path}")

    def do_help(self, arg: str) -> None:
        """``help``: the command table."""
        # the command table of the module's docstring: the block after "Commands ...::"
        self._say((__doc__ or "").split("::\n\n")[1].split("\n\n")[0])

    # -- loop ----------------------------------------------------------------------------------
    def onecmd(self, line: str) -> bool:
        """Run one command line; returns True when the session should end."""
        try:
            words = shlex.split(line)
        except ValueError as exc:
            self._say(f"cannot read that line: {exc}")
            return False
        if not words:
            return False
        word, arg = words[0], " ".join(words[1:])
        matches = [c for c in _COMMANDS if c.startswith(word)] if word else []
        if len(matches) != 1 and word not in _COMMANDS:
            what = "ambiguous" if len(matches) > 1 else "unknown"
            self._say(f"{what} command {word!r}; commands:")
            self.do_help("")
            return False
        command = word if word in _COMMANDS else matches[0]
        if command == "quit":
            return True
        try:
            getattr(self, f"do_{command}")(arg)
        except ValueError as exc:
            self._say(f"{command}: {exc}")
        return False

    def _at_terminal(self) -> bool:
        """True when a person types the commands: standard input and output are the terminal.

        Then :func:`input` reads them, which edits the line (arrow keys, Home, End) and recalls
        earlier commands (up and down) once the standard ``readline`` module is imported.
        """
        if self.stdin is not sys.stdin or self.stdout is not sys.stdout:
            return False
        try:
            if not self.stdin.isatty():
                return False
        except (AttributeError, ValueError):  # no isatty, or a closed stream
            return False
        try:
            import readline  # noqa: F401  (importing it is what gives input() editing and history)
        except ImportError:  # not on every platform; input() still reads a line
            pass
        return True

    def _read(self, terminal: bool) -> Optional[str]:
        """The next command line, or None at the end of input."""
        if terminal:
            while True:
                try:
                    return input(self.prompt)
                except EOFError:
                    break
                except KeyboardInterrupt:  # as at Python's own prompt: Ctrl-C drops the line
                    self.stdout.write("\n")
        else:
            self.stdout.write(self.prompt)
            self.stdout.flush()
            line = self.stdin.readline()
            if line:
                return line
        self.stdout.write("\n")
        return None

    def run(self) -> None:
        """Read and run commands until ``quit`` or the end of input."""
        watching = f"; watching {self._name(self.watch)}" if self.watch is not None else ""
        if self.forward:
            self._say(f"forward mode from {self.start_name} (tangent 1): {_steps(len(self.record.shown))}{watching}")
        else:
            self._say(f"backprop from {self._name(len(self.record.nodes) - 1)}: {_steps(len(self.record.shown))}{watching}")
        self._say(self._where_line())
        terminal = self._at_terminal()
        while True:
            line = self._read(terminal)
            if line is None or self.onecmd(line.strip()):
                return
