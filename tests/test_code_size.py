"""The package stays cheap to read: no module over 400 lines, no function over 60.

``tools/code_size.py`` measures (CONTRIBUTING.md, "Map of the house"); split
by idea when a module or function grows past the limit.
"""

from __future__ import annotations

from tool_util import load_tool

code_size = load_tool("code_size")


def test_no_module_over_400_lines_and_no_function_over_60():
    modules, functions = code_size.over_limits()
    assert not modules, f"modules over {code_size.MAX_MODULE} lines: {modules}"
    assert not functions, f"functions over {code_size.MAX_FUNCTION} lines: {functions}"


def test_the_measure_sees_every_module_and_nested_functions(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "small.py").write_text("def f():\n    return 1\n")
    body = "\n".join(f"    x{i} = {i}" for i in range(70))
    (package / "big.py").write_text(f"class A:\n    def method(self):\n        def inner():\n{body.replace('    ', '            ')}\n"
                                    "        return inner\n" + "\n" * 400)
    lines = code_size.module_lines(package)
    assert set(lines) == {"small.py", "big.py"} and lines["big.py"] > 400
    modules, functions = code_size.over_limits(package=package)
    assert list(modules) == ["big.py"]
    assert [name for _, name in functions] == ["big.py:A.method", "big.py:A.method.inner"]
