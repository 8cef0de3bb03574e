"""The typed package: the .pyi stubs parse, declare every public name of the module, match the
extension's signatures, and every string option they list is validated by the extension
(a value outside the stub's Literal raises ValueError naming the function, the option and
exactly those values)."""
import ast
import re
from pathlib import Path

import numpy as np
import pytest

import sublens
from conftest import union_of_subspaces

PACKAGE = Path(sublens.__file__).parent  # the installed / build-tree package, not the sources


def parse(name):
    return ast.parse((PACKAGE / name).read_text(encoding="utf-8"), filename=name)


def declared_names(tree):
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.ImportFrom):
            names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.AnnAssign):
            names.add(node.target.id)
    return names


def stub_functions():
    """{name: FunctionDef} of _sublens.pyi (the first of an @overload group)."""
    functions = {}
    for node in parse("_sublens.pyi").body:
        if isinstance(node, ast.FunctionDef):
            functions.setdefault(node.name, node)
    return functions


def runtime_signature(function):
    """pybind11's signature line (the docstring's first line) as an ast.FunctionDef."""
    line = function.__doc__.splitlines()[0]
    return ast.parse(f"def {line}: ...").body[0]


def shape(node):
    """Positional names, keyword-only names, and which have defaults."""
    args = node.args
    positional = [a.arg for a in args.posonlyargs + args.args]
    defaults = positional[len(positional) - len(args.defaults):] if args.defaults else []
    keyword = [a.arg for a in args.kwonlyargs]
    keyword_defaults = [a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
    return positional, keyword, sorted(defaults + keyword_defaults)


def extension_functions():
    return {name: getattr(sublens._sublens, name) for name in dir(sublens._sublens)
            if not name.startswith("__") and callable(getattr(sublens._sublens, name))}


def test_the_package_ships_py_typed_and_stubs():
    assert (PACKAGE / "py.typed").is_file()
    for name in ("__init__.pyi", "_sublens.pyi"):
        parse(name)  # raises SyntaxError when invalid


def test_init_stub_declares_every_public_name():
    declared = declared_names(parse("__init__.pyi"))
    public = {name for name in dir(sublens) if not name.startswith("_")}

    assert public - declared == set()
    assert set(sublens.__all__) <= declared
    assert {"torch", "plot", "run_folder", "__version__"} <= declared
    assert declared - public - {"torch", "plot", "run_folder", "__version__", "__all__"} == set()


def test_reexports_exist_in_their_stub_or_module():
    extension = set(stub_functions())
    for node in parse("__init__.pyi").body:
        if isinstance(node, ast.ImportFrom) and node.module == "_sublens":
            assert {a.name for a in node.names} <= extension
        if isinstance(node, ast.ImportFrom) and node.module == "_results":
            assert {a.name for a in node.names} <= set(sublens._results.__all__)


def test_extension_stub_matches_the_extension_signatures():
    stubs = stub_functions()
    runtime = extension_functions()

    assert set(stubs) == set(runtime)
    for name, function in runtime.items():
        assert shape(stubs[name]) == shape(runtime_signature(function)), name
        returned = ast.unparse(stubs[name].returns)
        if returned.endswith("Result") or returned == "Neighborhood":
            assert returned in sublens._results.__all__, name


# ---- string options --------------------------------------------------------------------------

def literal_options(function):
    """{option: [values]} of the str Literal parameters of a stub function."""
    options = {}
    args = function.args
    for arg in args.posonlyargs + args.args + args.kwonlyargs:
        text = ast.unparse(arg.annotation) if arg.annotation is not None else ""
        values = re.findall(r"'([^']*)'", text) if text.startswith("Literal[") else []
        if values:
            options[arg.arg] = values
    return options


@pytest.fixture(scope="module")
def call_arguments():
    """Valid leading arguments of every function with a string option."""
    x, _ = union_of_subspaces(per_group=8)
    w = sublens.ssc(x).affinity
    return {"ssc": (x,), "coupled_nmf": (np.abs(x), None), "cka": (x, x), "cka_matrix": ([x],),
            "detect_communities": (w,), "spectral_embedding": (w,),
            "spectral_clustering": (w,)}


def test_every_str_parameter_is_a_literal_in_the_stub():
    stubs = stub_functions()
    for name, function in extension_functions().items():
        strings = {a.arg for a in runtime_signature(function).args.args +
                   runtime_signature(function).args.kwonlyargs
                   if a.annotation is not None and ast.unparse(a.annotation) == "str"}
        assert strings == set(literal_options(stubs[name])), name


def test_a_value_outside_the_options_raises_value_error(call_arguments):
    checked = 0
    for name, stub in stub_functions().items():
        for option, values in literal_options(stub).items():
            function = getattr(sublens._sublens, name)
            allowed = ", ".join(f"'{v}'" for v in values)
            with pytest.raises(ValueError) as error:
                function(*call_arguments[name], **{option: "bogus"})
            assert str(error.value) == f"{name}: {option} must be one of {allowed} (got 'bogus')"
            checked += 1
    assert checked == 12  # ssc 3, cka 3, cka_matrix 2, the others 1 each


def test_every_listed_value_is_accepted_and_the_default_is_one(call_arguments):
    for name, stub in stub_functions().items():
        function = getattr(sublens._sublens, name)
        defaults = {a.arg: d for a, d in zip(runtime_signature(function).args.kwonlyargs,
                                             runtime_signature(function).args.kw_defaults)}
        for option, values in literal_options(stub).items():
            assert ast.literal_eval(defaults[option]) in values, (name, option)
            for value in values:
                try:
                    function(*call_arguments[name], **{option: value})
                except ValueError as error:  # another argument's constraint, never this one's
                    assert "must be one of" not in str(error), (name, option, value, error)
