"""The module's defaults are the CLI's: each Python default (pybind11's signature line, built from
the C++ Options structs) equals the default that `sublens <command> --help` prints."""
import ast
import os
import re
import subprocess

import pytest

import sublens
from conftest import BIN

# Python function -> {parameter: (CLI command, flag)}.
SAME_DEFAULTS = {
    "ssc": {"solver": ("ssc", "--solver"), "tau": ("ssc", "--tau"),
            "tau_mode": ("ssc", "--tau-mode"), "mu": ("ssc", "--mu"),
            "max_iterations": ("ssc", "--max-iter"), "tolerance": ("ssc", "--tol"),
            "normalize": ("ssc", "--normalize"), "threads": ("ssc", "--threads")},
    "cka": {"kind": ("cka", "--kind"), "estimator": ("cka", "--estimator"),
            "method": ("cka", "--method")},
    "cka_matrix": {"kind": ("cka-matrix", "--kind"), "estimator": ("cka-matrix", "--estimator")},
    "spectral_embedding": {"dimensions": ("embed", "--dimensions"),
                           "laplacian": ("embed", "--laplacian"),
                           "max_iterations": ("embed", "--max-iterations")},
    "spectral_clustering": {"laplacian": ("cluster", "--laplacian"),
                            "restarts": ("cluster", "--restarts"), "seed": ("cluster", "--seed")},
    "modularity": {"resolution": ("modularity", "--resolution")},
    "detect_communities": {"method": ("modularity", "--method"), "seed": ("modularity", "--seed")},
    "neighbors": {"top": ("neighbors", "--top")},
    "singular_spectrum": {"dense_limit": ("spectrum", "--dense-limit")},
}


def python_defaults(function):
    """{parameter: default} from pybind11's signature line."""
    node = ast.parse(f"def {function.__doc__.splitlines()[0]}: ...").body[0]
    args = node.args
    pairs = list(zip(args.args[len(args.args) - len(args.defaults):], args.defaults))
    pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
    return {a.arg: ast.literal_eval(d) for a, d in pairs}


def cli_default(help_text, flag):
    match = re.search(rf"(?:^|[\s,]){re.escape(flag)} [A-Z:]+=(\S+)", help_text, re.MULTILINE)
    assert match, f"{flag} shows no default"
    return match.group(1)


def test_python_defaults_equal_the_cli_defaults():
    if not os.path.exists(BIN):
        pytest.skip(f"CLI not built ({BIN}); set SUBLENS_BIN")
    helps = {}
    for name, parameters in SAME_DEFAULTS.items():
        defaults = python_defaults(getattr(sublens, name))
        for parameter, (command, flag) in parameters.items():
            if command not in helps:
                helps[command] = subprocess.run([BIN, command, "--help"], capture_output=True,
                                                text=True, timeout=60).stdout
            expected = cli_default(helps[command], flag)
            value = defaults[parameter]
            if isinstance(value, str):
                assert value == expected, (name, parameter)
            else:
                assert value == pytest.approx(float(expected), rel=1e-12), (name, parameter)
