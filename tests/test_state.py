"""The switches are per thread: scopes and anomaly mode never leak, concurrent backward is correct."""

from __future__ import annotations

import math
import sys
import threading

import pytest

import autodiff
from autodiff import Value, state


def run_in_thread(fn):
    errors = []

    def target():
        try:
            fn()
        except BaseException as exc:  # re-raised in the test's thread
            errors.append(exc)

    t = threading.Thread(target=target)
    t.start()
    return t, errors


def test_a_scope_in_one_thread_never_marks_a_node_made_in_another():
    inside, made, leave = threading.Event(), threading.Event(), threading.Event()
    other = {}

    def scoped():
        with autodiff.name_scope("layer 1"):
            inside.set()
            made.wait(5)
            other["own"] = Value(1.0) * 2
        leave.set()

    t, errors = run_in_thread(scoped)
    inside.wait(5)
    mine = Value(1.0) * 2  # made while the other thread is inside its scope
    made.set()
    leave.wait(5)
    t.join()
    assert not errors
    assert mine.scope is None and other["own"].scope == ("layer 1",)
    assert state.current().scope is None and (Value(3.0) * 2).scope is None


def test_scopes_left_from_many_threads_leave_nothing_stale():
    def work():
        for _ in range(200):
            with autodiff.name_scope("a", "b"):
                Value(1.0) * 2

    threads = [run_in_thread(work) for _ in range(4)]
    for t, errors in threads:
        t.join()
        assert not errors
    assert (Value(1.0) * 2).scope is None
    assert state._open == 0  # every block that opened has closed


def test_anomaly_mode_in_one_thread_does_not_make_another_raise():
    inside, done = threading.Event(), threading.Event()

    def anomalous():
        with autodiff.detect_anomaly():
            inside.set()
            done.wait(5)

    t, errors = run_in_thread(anomalous)
    inside.wait(5)
    big = Value(1000.0).exp()  # inf, silently, as for Python floats: anomaly mode is the other thread's
    done.set()
    t.join()
    assert not errors and big.data == math.inf
    with pytest.raises(FloatingPointError):
        with autodiff.detect_anomaly():
            Value(1000.0).exp()


def test_concurrent_backward_on_graphs_that_share_nodes_gives_correct_gradients():
    # Each thread builds roots on a shared chain and backprops them into a shared leaf: walks keep
    # counters on the nodes, so two walks at once through the chain would mix them up.
    w = Value(0.7, label="w")
    shared = w
    for _ in range(300):
        shared = (shared * 0.9 + w * 0.1).tanh()
    rounds = 100
    made = [[shared * shared + w for _ in range(rounds)], [shared * w * 3.0 for _ in range(rounds)]]
    expected = rounds * sum(autodiff.grad(roots[0], [w])[0] for roots in made)  # the roots of a list are alike
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    try:
        threads = [run_in_thread(lambda roots=roots: [r.backward() for r in roots]) for roots in made]
        for t, errors in threads:
            t.join()
            assert not errors
    finally:
        sys.setswitchinterval(previous)
    assert math.isclose(w.grad, expected, rel_tol=1e-9)
