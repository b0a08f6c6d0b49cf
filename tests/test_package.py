"""The installed package: public names, type stub, build report."""

import fastbce


def test_type_stub_covers_the_public_api():
    import ast
    import importlib.resources

    stub = importlib.resources.files("fastbce").joinpath("__init__.pyi").read_text()
    names = {
        node.name for node in ast.parse(stub).body if isinstance(node, (ast.FunctionDef, ast.ClassDef))
    }
    assert set(fastbce.__all__) <= names
    assert importlib.resources.files("fastbce").joinpath("py.typed").is_file()
