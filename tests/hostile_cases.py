"""Crafted hostile inputs (issue 14): each a spec a stranger might hand us, and what archspec must do.

A case is files to write into an empty folder, the command line to run there, and the outcome
required: "error" (exit 1 or 2 with a located `file:line:col: error:` message, no traceback) or
"ok" (exit 0). Every case must finish within 2 s and 1 GB. `tools/hostile.py` runs them all and
prints a table; `tests/test_hostile.py` runs them in the test suite.

`{canary}` in a file or an argument is replaced by the path of a file that must never be
created: hostile code in these cases tries to create it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

NET = "input 3x8x8\nnetwork n:\n    conv(4, 3)\n    relu\n"
TOUCH = '__import__("os").system("touch {canary}")'


@dataclass(frozen=True)
class Case:
    id: str
    files: dict[str, str]
    argv: tuple[str, ...]
    expect: str = "error"  # "error" | "ok" | "any" (either, but never a traceback, hang or canary)
    located: bool = True  # the error names file:line:col (False: a file or flag that is wrong, not a spec)
    setup: str = ""  # "fifo:NAME", "symlink:NAME->TARGET", "readonly:NAME", "dir:NAME"
    import_output: str = ""  # a compiled module to import afterwards (with the canary armed)
    stdin: str | None = None
    tags: tuple[str, ...] = field(default=())
    cpu_s: float | None = None  # a CPU allowance of its own (importing torch alone takes 2-3 s), else the grader's


def spec(body: str, head: str = "input 3x8x8\n") -> dict[str, str]:
    return {"s.arch": head + body}


def net(*lines: str, head: str = "input 3x8x8\n") -> dict[str, str]:
    return spec("network n:\n" + "".join(f"    {line}\n" for line in lines), head)


def check(files: dict[str, str], expect: str = "error", name: str = "s.arch", *extra: str) -> tuple:
    return files, ("check", name, *extra), expect


def _nested(open_: str, close: str, depth: int, core: str = "1") -> str:
    return open_ * depth + core + close * depth


def cases() -> list[Case]:
    out: list[Case] = []

    def add(id: str, files, argv, expect="error", **kw):
        out.append(Case(id, files, tuple(argv), expect, **kw))

    # --- code from the spec must never run (compile, then import the module with the canary armed)
    injections = {
        "docstring-param": 'param s = "a\\"\\"\\" if ' + TOUCH.replace('"', '\\"') + ' else \\"\\"\\"b"\n',
        "single-quote-param": "param s = \"x' + " + TOUCH.replace('"', "'") + " + '\"\n",
        "newline-param": 'param s = "x\\n' + TOUCH.replace('"', '\\"') + '\\n"\n',
        "backslash-param": 'param s = "x\\\\"\n',
        "brace-param": 'param t = "{" + "x}"\nparam s = "{t}\\" + ' + TOUCH.replace('"', '\\"') + ' + \\""\n',
    }
    for id, line in injections.items():
        files = {"s.arch": line + NET}
        add(f"inject-{id}", files, ("compile", "s.arch", "--to", "torch", "-o", "m.py"), "ok", import_output="m.py", tags=("code",))
    add(
        "inject-set-value",
        {"s.arch": "param s = \"a\"\n" + NET},
        ("compile", "s.arch", "--to", "torch", "-o", "m.py", "--set", 's="\\"\\"\\"; ' + TOUCH.replace('"', '\\"') + '; \\"\\"\\""'),
        "ok",
        import_output="m.py",
        tags=("code",),
    )
    add(
        "inject-file-name",
        {'x"""; ' + "__import__('os').system('touch {canary}'); " + '""".arch': NET},
        ("compile", 'x"""; ' + "__import__('os').system('touch {canary}'); " + '""".arch', "--to", "torch", "-o", "m.py"),
        "ok",
        import_output="m.py",
        tags=("code",),
    )
    # the same strings through the ONNX backend: data in the model, never anything it runs
    for id, line in injections.items():
        add(f"onnx-{id}", {"s.arch": line + NET}, ("compile", "s.arch", "--to", "onnx", "-o", "m.onnx"), "ok", tags=("code", "onnx"))
    add(
        "onnx-file-name",
        {'x"""; ' + "__import__('os').system('touch {canary}'); " + '""".arch': NET},
        ("compile", 'x"""; ' + "__import__('os').system('touch {canary}'); " + '""".arch', "--to", "onnx", "-o", "m.onnx"),
        "ok",
        tags=("code", "onnx"),
    )
    add("onnx-out-dev-null", {"s.arch": NET}, ("compile", "s.arch", "--to", "onnx", "-o", "/dev/null"), located=False, tags=("system", "onnx"))
    add("onnx-weights-not-a-file", {"s.arch": NET, "w.pt": "not a pickle"}, ("compile", "s.arch", "--to", "onnx", "--weights", "w.pt", "-o", "m.onnx"), located=False, tags=("onnx",), cpu_s=8.0)
    add(
        "inject-label",
        {"s.arch": 'param s = "a\\"); ' + TOUCH.replace('"', '\\"') + ' #"\ninput 3x8x8\nnetwork n:\n    "{s}": conv(4, 3)\n'},
        ("compile", "s.arch", "--to", "torch", "-o", "m.py"),
        "error",
        tags=("code",),
    )
    add(
        "inject-yaml-field",
        {
            "s.yaml": "params:\n  s: '" + r'"\"\"\"; ' + TOUCH.replace('"', "''") + r'; \"\"\""' + "'\n"
            "input: 3x8x8\nnetwork:\n  name: n\n  body:\n    - conv(4, 3)\n"
        },
        ("compile", "s.yaml", "--to", "torch", "-o", "m.py"),
        "ok",
        import_output="m.py",
        tags=("code",),
    )
    add(
        "inject-network-name-yaml",
        {"s.yaml": 'input: 3x8x8\nnetwork:\n  name: "n(): pass\\nimport os"\n  body:\n    - conv(4, 3)\n'},
        ("compile", "s.yaml", "--to", "torch", "-o", "m.py"),
        "error",
        tags=("code",),
    )
    # names that are legal in the spec but special in the generated module
    # nn.Module's own attributes cannot name a submodule (its state_dict key): the label is refused
    module_attrs = ("forward", "training", "state_dict", "cuda", "_modules", "__init__", "add_module")
    for name in ("self", "torch", "nn", "F", "super", "x", "copy", "math", "class", "lambda", "None", "def", *module_attrs):
        add(
            f"name-param-{name}",
            {"s.arch": f"param {name} = 4\ninput 3x8x8\nnetwork n:\n    conv({name}, 3)\n    relu\n"},
            ("compile", "s.arch", "--to", "torch", "-o", "m.py"),
            "any",
            import_output="m.py",
            tags=("names",),
        )
        add(
            f"name-label-{name}",
            {"s.arch": f"input 3x8x8\nnetwork n:\n    {name}: conv(4, 3)\n    relu\n"},
            ("compile", "s.arch", "--to", "torch", "-o", "m.py"),
            "error" if name in module_attrs else "any",
            import_output="m.py",
            tags=("names",),
        )
        add(
            f"name-block-param-{name}",
            {"s.arch": f"input 3x8x8\nblock b({name}):\n    conv({name}, 3)\nnetwork n:\n    b(4)\n    relu\n"},
            ("compile", "s.arch", "--to", "torch", "-o", "m.py"),
            "any",
            import_output="m.py",
            tags=("names",),
        )
    # names of the builtins and helpers the generated module calls
    for name in ("int", "round", "range", "len", "getattr", "make_divisible", "max", "math", "ceil", "isinstance", "print"):
        add(
            f"name-builtin-{name}",
            {
                "s.arch": f"param {name} = 4\ninput 8x8x8\nblock b(c, {name}=2):\n    conv(make_divisible(c * 0.75 * {name}), 1)\n"
                f"    conv(int(round(in.channels * 0.5)), 1)\n    r: conv(max(c, {name}), 1)\n"
                f"    for i in range({name}):\n        \"x{{i}}\": conv(c, 1)\nnetwork n:\n    b({name})\n    b(c={name} * 2, {name}=1)\n"
            },
            ("compile", "s.arch", "--to", "torch", "-o", "m.py"),
            "ok",
            import_output="m.py",
            tags=("names",),
        )
    add(
        "name-label-dotted",
        {"s.arch": 'input 3x8x8\nnetwork n:\n    "a.b": conv(4, 3)\n'},
        ("check", "s.arch"),
        tags=("names",),
    )
    add(
        "name-nfkc-fold",
        {"s.arch": "input 3x8x8\nnetwork n:\n    \uff41: conv(4, 3)\n    a: conv(4, 3)\n"},
        ("compile", "s.arch", "--to", "torch", "-o", "m.py"),
        "error",
        tags=("names",),
    )
    add(
        "name-nfkc-param-fold",
        {"s.arch": "param \ufb01 = 4\nparam fi = 5\ninput 3x8x8\nnetwork n:\n    conv(\ufb01, 3)\n    conv(fi, 3)\n"},
        ("compile", "s.arch", "--to", "torch", "-o", "m.py"),
        "error",
        tags=("names",),
    )
    add(
        "name-block-class-clash",
        {"s.arch": "input 3x8x8\nblock n():\n    conv(4, 3)\nnetwork N:\n    n\n"},
        ("compile", "s.arch", "--to", "torch", "-o", "m.py"),
        "ok",
        import_output="m.py",
        tags=("names",),
    )

    # --- deep nesting: a located error, never a RecursionError
    deep = 1000
    add("deep-brackets", net(f"conv({_nested('(', ')', deep, '4')}, 3)"), ("check", "s.arch"), "any")
    add("deep-tuples", net(f"conv(len({_nested('(', ',)', deep, '4')}), 3)"), ("check", "s.arch"))
    add("deep-unary-minus", net(f"conv({'-' * deep}4, 3)"), ("check", "s.arch"))
    add("deep-not", net(f"conv(4 if {'not ' * deep}true else 2, 3)"), ("check", "s.arch"))
    add("deep-power", net(f"conv({'1 ** ' * deep}4, 3)"), ("check", "s.arch"))
    add("deep-index", net(f"conv((4,){'[0]' * 1}{'' }, 3)"), ("check", "s.arch"), "ok")
    add("deep-index-chain", spec("param t = " + _nested("(", ",)", 300, "4") + "\nnetwork n:\n    conv(t" + "[0]" * 300 + ", 3)\n"), ("check", "s.arch"), "any")
    add("deep-ifexpr", net(f"conv({'1 if true else ' * deep}4, 3)"), ("check", "s.arch"))
    add("deep-plus", net(f"conv({'1 + ' * 20000}4, 3)"), ("check", "s.arch"))
    add("deep-call", net(f"conv({'abs(' * deep}4{')' * deep}, 3)"), ("check", "s.arch"))
    add(
        "deep-scopes",
        spec("network n:\n" + "".join("    " * (i + 1) + f"s{i}:\n" for i in range(deep)) + "    " * (deep + 1) + "conv(4, 3)\n"),
        ("check", "s.arch"),
    )
    add(
        "deep-concats",
        spec("network n:\n" + "".join("    " * (i + 1) + "concat:\n" for i in range(deep)) + "    " * (deep + 1) + "identity\n"),
        ("check", "s.arch"),
    )
    add(
        "deep-if-stmt",
        spec("network n:\n" + "".join("    " * (i + 1) + "if true:\n" for i in range(deep)) + "    " * (deep + 1) + "conv(4, 3)\n"),
        ("check", "s.arch"),
    )
    chain = {f"m{i}.arch": f'import "m{i + 1}.arch"\n' for i in range(400)}
    chain["m400.arch"] = "param z = 1\n"
    chain["s.arch"] = 'import "m0.arch"\n' + NET
    add("deep-import-chain", chain, ("check", "s.arch"), "any")
    add("import-cycle", {"a.arch": 'import "b.arch"\n', "b.arch": 'import "a.arch"\n', "s.arch": 'import "a.arch"\n' + NET}, ("check", "s.arch"))
    add("deep-yaml", {"s.yaml": "params:\n  p: " + "[" * deep + "1" + "]" * deep + "\ninput: 3x8x8\nnetwork:\n  name: n\n  body:\n    - conv(4, 3)\n"}, ("check", "s.yaml"))
    add("deep-yaml-block", {"s.yaml": "input: 3x8x8\nnetwork:\n  name: n\n  body:\n" + "".join("  " * (i + 2) + f"- s{i}:\n" for i in range(300)) + "  " * 302 + "- conv(4, 3)\n"}, ("check", "s.yaml"))

    # --- huge values
    add("yaml-huge-int", {"s.yaml": "params:\n  p: " + "9" * 5000 + "\ninput: 3x8x8\nnetwork:\n  name: n\n  body:\n    - conv(4, 3)\n"}, ("check", "s.yaml"))
    add("arch-huge-int", spec("param p = " + "9" * 5000 + "\nnetwork n:\n    conv(4, 3)\n"), ("check", "s.arch"))
    add("arch-huge-float", spec("param p = 1e400\nnetwork n:\n    conv(int(p), 3)\n"), ("check", "s.arch"))
    add("dev-zero", {}, ("check", "/dev/zero"), located=False)
    add("dev-urandom", {}, ("check", "/dev/urandom"), located=False)
    add("directory-as-spec", {"d/x": ""}, ("check", "d"), located=False)
    add("missing-spec", {}, ("check", "nope.arch"), located=False)
    add("binary-spec", {"s.arch": "\x00\xff\xfe" * 100}, ("check", "s.arch"))
    add("huge-line", spec("param p = " + "1 + " * 500_000 + "1\nnetwork n:\n    conv(4, 3)\n"), ("check", "s.arch"))
    add("fifo-spec", {}, ("check", "f.arch"), located=False, setup="fifo:f.arch")
    add("fifo-import", {"s.arch": 'import "f.arch"\n' + NET}, ("check", "s.arch"), setup="fifo:f.arch")
    add("import-etc-passwd", {"s.arch": 'import "/etc/passwd"\n' + NET}, ("check", "s.arch"))
    add("import-dev-zero", {"s.arch": 'import "/dev/zero"\n' + NET}, ("check", "s.arch"))

    # --- evaluation that would hang
    add("sum-range", net("conv(sum(range(2 ** 62)), 3)"), ("check", "s.arch"))
    add("comprehension-huge", net("conv(len([x for x in range(2 ** 62)]), 3)"), ("check", "s.arch"))
    add("comprehension-nested", net("conv(len([[y for y in range(1000)] for x in range(1000)]), 3)"), ("check", "s.arch"))
    add("comprehension-loop", net("for i in range(10000):", "    conv(len([x for x in range(100)]) - 96, 3, padding=1)", "relu"), ("check", "s.arch"))
    add("exp-huge", net("conv(int(exp(exp(100))), 3)"), ("check", "s.arch"))
    add("comprehension-inject", net("conv(len([__import__ for x in (1,)]), 3)"), ("compile", "s.arch", "--to", "torch", "-o", "m.py"), tags=("code",))
    add("max-range", net("conv(max(range(10 ** 15)), 3)"), ("check", "s.arch"))
    add("min-range", net("conv(min(range(10 ** 15, 0, -1)), 3)"), ("check", "s.arch"), "ok")
    add(
        "sum-range-exact",
        net("assert sum(range(3, 10 ** 6, 7)) == 71428357143", "assert max(range(10 ** 15, 5, -3)) == 10 ** 15", "conv(4, 3)"),
        ("check", "s.arch"),
        "ok",
    )
    add("len-range", net("conv(len(range(10 ** 15)) // 10 ** 14, 3)"), ("check", "s.arch"), "ok")
    add("in-range", net("conv(4 if 5 in range(10 ** 15) else 2, 3)"), ("check", "s.arch"), "ok")
    add("round-huge", net("conv(round(2 ** 62, -(2 ** 62)), 3)"), ("check", "s.arch"))
    add("pow-huge", net("conv(2 ** 2 ** 62, 3)"), ("check", "s.arch"))
    add("pow-float", net("conv(int(2.0 ** 100000), 3)"), ("check", "s.arch"))
    add("mul-seq", net('conv(len("ab" * 2 ** 61), 3)'), ("check", "s.arch"))
    add(
        "tuple-to-string",
        spec("param t = (1,) * 900000\nparam u = (t, t, t, t, t, t, t, t, t, t)\nnetwork n:\n    conv(len(str((u, u, u, u, u, u, u, u, u, u))), 3)\n"),
        ("check", "s.arch"),
    )
    add(
        "tuple-compare",
        spec("param t = (1,) * 900000\nparam u = (t, t, t, t, t, t, t, t, t, t)\nparam v = (u, u, u, u, u, u, u, u, u, u)\nnetwork n:\n    conv(4 if v == v else 2, 3)\n"),
        ("check", "s.arch"),
    )
    add(
        "nested-tuple-bomb",
        spec("".join(f"param t{i + 1} = (t{i}, t{i}, t{i}, t{i}, t{i}, t{i}, t{i}, t{i}, t{i}, t{i})\n" for i in range(12)).replace("param t1 = (t0", "param t0 = 1\nparam t1 = (t0", 1) + "network n:\n    conv(len(str(t12)), 3)\n"),
        ("check", "s.arch"),
    )
    add("format-bomb", spec('param t = (1,) * 900000\nnetwork n:\n    "{t}{t}{t}{t}{t}{t}{t}{t}{t}{t}{t}{t}": conv(4, 3)\n'), ("check", "s.arch"))
    add("loop-of-tuples", spec("network n:\n    for i in range(10 ** 6):\n        assert len((1,) * 10 ** 6) > 0\n    conv(4, 3)\n"), ("check", "s.arch"))
    add("for-huge", spec("network n:\n    for i in range(10 ** 15):\n        relu\n"), ("check", "s.arch"))
    add("repeat-huge", net("repeat 10 ** 15: relu"), ("check", "s.arch"))
    add("repeat-nested", spec("network n:\n    repeat 1000:\n        repeat 1000:\n            repeat 1000:\n                relu\n"), ("check", "s.arch"))
    add(
        "dense-million",
        spec("block dl():\n    conv(1, 1)\nnetwork n:\n    for j in range(10 ** 6):\n        concat:\n            identity\n            dl\n"),
        ("check", "s.arch"),
    )
    add(
        "block-chain-no-layers",
        spec("".join(f"block b{i}():\n    b{i + 1}\n    b{i + 1}\n" for i in range(40)) + "block b40():\n    assert true\nnetwork n:\n    b0\n    relu\n"),
        ("check", "s.arch"),
    )
    add(
        "block-chain-deep",
        spec("".join(f"block b{i}():\n    b{i + 1}\n" for i in range(99)) + "block b99():\n    relu\nnetwork n:\n    repeat 1000: b0\n"),
        ("check", "s.arch"),
        "ok",
    )
    add("loop-of-asserts", spec("network n:\n    for i in range(300000):\n        assert i >= 0\n    relu\n"), ("check", "s.arch"))
    add("repeat-of-asserts", spec("network n:\n    repeat 90000:\n        assert true\n        assert true\n        assert true\n        assert true\n        assert true\n        assert true\n    relu\n"), ("check", "s.arch"))
    add("many-errors", spec("network n:\n" + "    bogus\n" * 100_000), ("check", "s.arch"))
    add("many-errors-loop", spec("network n:\n    for i in range(100000):\n        conv(-1, 3)\n"), ("check", "s.arch"))
    add(
        "yaml-billion-laughs",
        {
            "s.yaml": "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(8))
            + "input: 3x8x8\nnetwork:\n  name: n\n  body:\n    - conv(4, 3)\n"
        },
        ("check", "s.yaml"),
    )
    add(
        "yaml-alias-params",
        {
            "s.yaml": "params:\n  a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
            + "".join(f"  {chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(8))
            + "input: 3x8x8\nnetwork:\n  name: n\n  body:\n    - conv(4, 3)\n"
        },
        ("check", "s.yaml"),
    )
    add("yaml-python-tag", {"s.yaml": "params:\n  p: !!python/object/apply:os.system ['touch {canary}']\ninput: 3x8x8\nnetwork:\n  name: n\n  body:\n    - conv(4, 3)\n"}, ("check", "s.yaml"), tags=("code",))

    # --- linear time: a spec of many joins checks in well under 2 s (tests/test_hostile.py also
    # checks that a third of the repeats takes about a third of the time: "linear")
    add("joins-45000", spec("block r():\n    add:\n        identity\n        relu\nnetwork n:\n    conv(4, 1)\n    repeat 45000: r\n"), ("check", "s.arch", "--max-layers", "1000000"), "ok", tags=("linear",))
    add("concats-20000", spec("network n:\n    conv(4, 1)\n    repeat 20000:\n        concat:\n            identity\n            conv(1, 1)\n"), ("check", "s.arch", "--max-layers", "1000000"), "ok", tags=("linear",))

    # --- values the backend would reject are rejected by the op, with a location
    for id, call in {
        "bn-eps-negative": "batchnorm(eps=-1)",
        "bn-momentum": "batchnorm(momentum=2)",
        "dropout-p": "dropout(1.5)",
        "dropout-p-negative": "dropout(-0.1)",
        "conv-huge-channels": "conv(2 ** 62, 3)",
        "conv-big-channels": "conv(2 ** 40, 1)",
        "linear-huge": "flatten; linear(2 ** 50)",
        "linear-weights": "flatten; linear(2 ** 26)",
        "groups-not-dividing": "conv(4, 3, groups=2)",
        "groups-zero": "conv(4, 3, groups=0)",
        "lrn-size-zero": "lrn(0)",
        "softmax-dim": "softmax(dim=7)",
        "leaky-slope-str": 'leaky_relu("x")',
        "chunk-index": "chunk(2, 5)",
        "shuffle-groups": "channel_shuffle(2)",
        "pool-padding": "maxpool(2, padding=2)",
        "conv-dilation-zero": "conv(4, 3, dilation=0)",
        "conv-stride-zero": "conv(4, 3, stride=0)",
        "adaptive-zero": "adaptive_avgpool(0)",
    }.items():
        add(f"value-{id}", net(call), ("compile", "s.arch", "--to", "torch", "-o", "m.py"))
    add("input-huge", spec("network n:\n    relu\n", head="input 3x65536x65536\n"), ("check", "s.arch"))
    add("input-override-huge", {"s.arch": NET}, ("check", "s.arch", "--input", "3x65536x65536"))
    # calls no instance runs are in the generated code all the same: checked without values
    add("unrun-missing-arg", spec("network n:\n    repeat 0:\n        adaptive_avgpool()\n    relu\n"), ("check", "s.arch"))
    add("unrun-unknown-op", spec("param k = 0\nnetwork n:\n    if k:\n        bogus(1)\n    relu\n"), ("check", "s.arch"))
    add("unrun-block-args", spec("param k = 0\nblock b(c):\n    conv(c, 1)\nnetwork n:\n    if k:\n        b(1, 2)\n    relu\n"), ("check", "s.arch"))
    add(
        "empty-scope",
        spec("param k = false\nnetwork n:\n    conv(4, 3)\n    s:\n        if k:\n            relu\n    relu\n"),
        ("compile", "s.arch", "--to", "torch", "-o", "m.py"),
        "ok",
        import_output="m.py",
    )
    add(
        "empty-block",
        spec("block e():\n    assert true\nnetwork n:\n    conv(4, 3)\n    e\n    relu\n"),
        ("compile", "s.arch", "--to", "torch", "-o", "m.py"),
        "ok",
        import_output="m.py",
    )
    add("empty-scope-syntax", net("s:", "    identity if false"), ("compile", "s.arch", "--to", "torch", "-o", "m.py"))
    add("empty-network-if", spec("network n:\n    if false:\n        relu\n"), ("compile", "s.arch", "--to", "torch", "-o", "m.py"), "ok", import_output="m.py")

    # --- output files
    add("out-dev-full", {"s.arch": NET}, ("compile", "s.arch", "--to", "torch", "-o", "/dev/full"), located=False, tags=("system",))
    add("out-dev-null", {"s.arch": NET}, ("compile", "s.arch", "--to", "torch", "-o", "/dev/null"), located=False, tags=("system",))
    add("out-directory", {"s.arch": NET, "d/x": ""}, ("compile", "s.arch", "--to", "torch", "-o", "d"))
    add("out-fifo", {"s.arch": NET}, ("compile", "s.arch", "--to", "torch", "-o", "f.py"), located=False, setup="fifo:f.py")
    add("out-symlink", {"s.arch": NET, "real.py": "keep\n"}, ("compile", "s.arch", "--to", "torch", "-o", "link.py"), located=False, setup="symlink:link.py->real.py")
    add("out-readonly", {"s.arch": NET, "ro.py": "keep\n"}, ("compile", "s.arch", "--to", "torch", "-o", "ro.py"), located=False, setup="readonly:ro.py")
    add("out-missing-dir", {"s.arch": NET}, ("compile", "s.arch", "--to", "torch", "-o", "no/such/m.py"), located=False)
    add("out-over-spec", {"s.arch": NET}, ("compile", "s.arch", "--to", "torch", "-o", "s.arch"), located=False)

    # --- command line
    add("bad-flag", {"s.arch": NET}, ("check", "s.arch", "--bogus"))
    add("bad-input", {"s.arch": NET}, ("check", "s.arch", "--input", "3x" + "9" * 5000))
    add("bad-set", {"s.arch": NET}, ("check", "s.arch", "--set", "x=" + "(" * 5000))
    add("bad-set-unknown", {"s.arch": NET}, ("check", "s.arch", "--set", "nope=1"))
    add("set-huge-int", {"s.arch": "param c = 4\n" + NET}, ("check", "s.arch", "--set", "c=" + "9" * 5000))
    return out
