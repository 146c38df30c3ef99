"""The parameter contract of every public function, read from its declared checks.

For each public callable and each parameter it declares, a value of a type no
constraint accepts must raise ``ToolkitTypeError`` (a ``TypeError``), and a value of
the right type outside its interval or options must raise ``InvalidValueError`` (a
``ValueError``); both messages name the function and the parameter.
"""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest

import toolkit as tk
from toolkit._validation import _accepts_type, check_param
from toolkit.exceptions import InvalidValueError, ToolkitError, ToolkitTypeError

#: Public names that take no options of their own: results (built by the analyses),
#: the exception root, the run handle (built by ``track``) and the condition types
#: (checked in their constructors, see test_conditions).
NOT_CALLED_WITH_OPTIONS = {
    "ToolkitError",
    "Metrics",
    "Diagnosis",
    "ErrorClusters",
    "ErrorPatterns",
    "ErrorSample",
    "SliceMetrics",
    "TagRanking",
    "LabelIssues",
    "LeakageCheck",
    "SplitCheck",
    "LabelingQueue",
    "ChainAnalysis",
    "Run",
    "RunComparison",
    "Condition",
    "Pattern",
}


def _p() -> tk.Predictions:
    return tk.Predictions(["a", "b", "b", "a"], ["a", "b", "a", "a"], features={"x": [1, 2, 3, 4]})


#: A valid value for each required argument, by name (the checks run before any work,
#: so these only need to pass their own checks).
VALID = {
    "p": _p,
    "y_true": lambda: np.array([0, 1, 1, 0]),
    "y": lambda: np.array([0, 1, 1, 0]),
    "X": lambda: np.zeros((4, 2)),
    "model": lambda: __import__("sklearn.linear_model").linear_model.LogisticRegression(),
    "estimator": lambda: __import__("sklearn.linear_model").linear_model.LogisticRegression(),
    "df": lambda: pd.DataFrame({"y": [0, 1], "p": [0, 1]}),
    "target": lambda: "y",
    "pool": lambda: np.array([[0.5, 0.5], [0.2, 0.8]]),
    "tags": lambda: {0: "blur"},
    "stages": lambda: [tk.Stage("s", lambda inputs, upstream: inputs)],
    "inputs": lambda: np.array([0, 1, 1, 0]),
    "oracles": lambda: {},
    "name": lambda: "stage",
    "fn": lambda: lambda inputs, upstream: inputs,
    "run_a": lambda: "a",
    "run_b": lambda: "b",
    "experiment": lambda: "exp",
    "reference": lambda: pd.DataFrame({"x": [1, 2, 3, 4]}),
}


def _validated() -> list[tuple[str, object, dict]]:
    """(name, callable, declared checks) for every public callable that declares any."""
    out = []
    for name in tk.__all__:
        if name.startswith("__") or name in NOT_CALLED_WITH_OPTIONS:
            continue
        obj = getattr(tk, name)
        target = obj.__init__ if inspect.isclass(obj) else obj
        out.append((name, obj, getattr(target, "__toolkit_params__", None)))
        if obj is tk.Predictions:
            for method in ("from_frame", "from_model"):
                fn = getattr(obj, method)
                out.append((f"Predictions.{method}", fn, fn.__toolkit_params__))
    return out


def _base_call(fn) -> dict:
    signature = inspect.signature(fn)
    kwargs = {}
    for param in signature.parameters.values():
        if param.name == "self" or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            continue
        if param.default is inspect.Parameter.empty:
            kwargs[param.name] = VALID[param.name]()
    return kwargs


def _cases(kind: str) -> list:
    cases = []
    for name, fn, spec in _validated():
        for param, constraints in (spec or {}).items():
            if kind == "type":
                if not any(_accepts_type(c, object()) for c in constraints):
                    cases.append(pytest.param(name, fn, param, object(), id=f"{name}-{param}"))
            else:
                for c in constraints:
                    bad = getattr(c, "outside", lambda: None)()
                    if bad is None:
                        continue
                    try:
                        check_param(param, bad, constraints)
                    except InvalidValueError:
                        cases.append(pytest.param(name, fn, param, bad, id=f"{name}-{param}"))
                        break
    return cases


def test_every_public_function_declares_its_checks():
    missing = [name for name, _, spec in _validated() if not spec]
    assert not missing, f"no @validate_params on {missing}"


def test_the_contract_covers_many_parameters():
    assert len(_cases("type")) >= 60 and len(_cases("value")) >= 40


@pytest.mark.parametrize(("name", "fn", "param", "bad"), _cases("type"))
def test_a_wrong_type_is_a_type_error_naming_the_parameter(name, fn, param, bad):
    kwargs = {**_base_call(fn), param: bad}
    with pytest.raises(ToolkitTypeError) as info:
        fn(**kwargs)
    assert isinstance(info.value, TypeError) and isinstance(info.value, ToolkitError)
    message = str(info.value)
    assert f"{param} must be " in message and name.split(".")[-1] in message, message
    assert "got <object object" in message


@pytest.mark.parametrize(("name", "fn", "param", "bad"), _cases("value"))
def test_an_out_of_range_value_is_a_value_error_naming_the_parameter(name, fn, param, bad):
    kwargs = {**_base_call(fn), param: bad}
    with pytest.raises(InvalidValueError) as info:
        fn(**kwargs)
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert f"{param} must be " in message and f"got {bad!r}" in message, message


def test_a_bool_is_never_an_int():
    with pytest.raises(ToolkitTypeError, match=r"find_error_patterns: top must be .* got True"):
        tk.find_error_patterns(_p(), top=True)
    with pytest.raises(ToolkitTypeError, match="cluster_errors: n_neighbors must be"):
        tk.cluster_errors(_p(), n_neighbors=True)
