"""The passes that tidy a written forward (`archspec.backends.torch.tidy`) change its text, never
what it computes: each case runs before and after on several inputs (plain Python values stand
for tensors; the passes only move reads and drop copies), and the cases that must not be tidied
keep what a later step reads. Needs no torch."""

from __future__ import annotations

import ast
import textwrap

import pytest

from archspec.backends.torch.tidy import forwarded, inlined_copies, without_dead_stores, without_unread_keys


def tidied(source: str) -> str:
    fn = ast.parse(textwrap.dedent(source)).body[0]
    fn.body = without_unread_keys(inlined_copies(forwarded(without_dead_stores(fn.body))))  # the order classes.py uses
    return ast.unparse(ast.fix_missing_locations(ast.Module([fn], [])))


def run(source: str, *args):
    scope: dict = {}
    exec(compile(textwrap.dedent(source), "<case>", "exec"), scope)  # noqa: S102 - the test's own source
    return scope["f"](*args)


# (source, inputs, what tidying leaves out, what it must keep)
CASES = [
    (  # U-Net's decoder: the upsampled value read back from the dict it was just put in
        """
        def f(x, n):
            values = {}
            for i in range(n):
                values[f'layer{i}'] = x * 10 + i
            for i in range(n):
                x = x + 1
                values[f'up{i}'] = x
                if i < 2:
                    up = values[f'up{i}']
                    layer = values[f'layer{n - 1 - i}']
                    x = up * 3 + layer
                else:
                    up = values[f'up{i}']
                    x = up - 7
            return x
        """,
        [(1, 3), (5, 4), (2, 1)],
        ["up = ", "layer = ", "values[f'up{i}']"],
        ["values[f'layer{i}'] = "],
    ),
    (  # YOLOv8's outputs: locals that only pass kept values to the join
        """
        def f(x):
            values = {}
            values['box0'] = x + 1
            values['cls0'] = x * 2
            box0 = values['box0']
            cls0 = values['cls0']
            p3 = (box0, cls0)
            return p3
        """,
        [(1,), (4,)],
        ["box0 = ", "cls0 = "],
        ["values['box0'] = "],
    ),
    (  # a dict whose every entry is read back from its variable: gone
        """
        def f(x):
            values = {}
            values['a'] = x
            y = values['a']
            return y + 1
        """,
        [(1,)],
        ["values"],
        [],
    ),
    (  # a copy before a loop that writes the variable before reading it, and nothing after reads it
        """
        def f(x, n):
            values = {}
            values['a'] = x * 2
            y = values['a'] + 1
            x = y
            for i in range(n):
                x = values['a'] + i
                values[f'{i}'] = x
            return values[f'{n - 1}'] + y
        """,
        [(1, 2), (3, 1)],
        ["x = y"],
        [],
    ),
    (  # the same, but the loop may not run and the value is returned: kept
        """
        def f(x, n):
            c = x * 2
            x = c
            for i in range(n):
                x = i
            return x
        """,
        [(1, 0), (1, 2)],
        [],
        ["x = c"],
    ),
    (  # an entry made by a call is kept, and so is its dict, though nothing reads it
        """
        def f(x):
            values = {}
            values['a'] = abs(x)
            return x
        """,
        [(-1,)],
        [],
        ["values = {}", "values['a'] = abs(x)"],
    ),
    (  # a copy read twice must stay
        """
        def f(x):
            values = {}
            values['a'] = x + 1
            a = values['a']
            y = a * 2
            return y + a
        """,
        [(3,)],
        [],
        ["a = values['a']"],
    ),
    (  # the variable that held the value was reassigned: the dict is read, not the variable
        """
        def f(x):
            values = {}
            values['a'] = x
            x = x * 5
            y = values['a']
            return x + y
        """,
        [(2,), (7,)],
        [],
        ["values['a'] = x", "values['a']"],
    ),
    (  # a value kept in one iteration and read in the next: the loop starts knowing nothing
        """
        def f(x, n):
            values = {}
            values['0'] = x
            for i in range(1, n):
                x = values[f'{i - 1}'] + i
                values[f'{i}'] = x
            return values[f'{n - 1}']
        """,
        [(1, 4), (3, 2)],
        [],
        ["values[f'{i}'] = x", "values[f'{i - 1}']"],
    ),
    (  # a value kept before a loop and replaced inside it: each iteration reads the dict afresh
        """
        def f(x, n):
            values = {}
            values['k'] = x
            for i in range(n):
                a = values['k']
                x = x + i
                values['k'] = x * 2
                x = x + a
            return x
        """,
        [(1, 1), (1, 3), (2, 4)],
        [],
        ["a = values['k']"],
    ),
    (  # keys whose literal starts agree ("up" and "upper") may be the same key: kept
        """
        def f(x, i):
            values = {}
            values[f'up{i}'] = x
            return values[f'upp{i}'] if i < 0 else x
        """,
        [(1, 2)],
        [],
        ["values[f'up{i}'] = x"],
    ),
    (  # a copy the next statement reads and overwrites goes into it; the branch reads it still
        """
        def f(x, flag):
            values = {}
            values['k'] = x * 3
            x = values['k']
            x = x + 1
            if flag:
                x = x * 2
            return x
        """,
        [(1, True), (2, False)],
        [],
        ["x = values['k'] + 1"],
    ),
    (  # YOLOv8's head: a loop's f'{i}' (0..2) no read can make, as the reads loop over other literals
        """
        def f(x):
            values = {}
            values['15'] = x
            values['18'] = x * 2
            for i, level in enumerate(('15', '18', '15')):
                x = values[f'{level}'] + i
                values[f'{i}'] = x
                values[f'box{i}'] = x
            return values['box0'] + values['box2']
        """,
        [(1,), (3,)],
        ["values[f'{i}'] = "],
        ["values[f'box{i}'] = x", "values['15'] = x"],
    ),
    (  # a later read of literals that one of the loop's keys may be ('2'): kept
        """
        def f(x):
            values = {}
            for i in range(3):
                values[f'{i}'] = x + i
            for level in ('2', 'a'):
                x = x * 10 + (values[f'{level}'] if level != 'a' else 0)
            return x
        """,
        [(1,), (2,)],
        [],
        ["values[f'{i}'] = x + i"],
    ),
    (  # a read earlier in the function never sees a later store, one in a loop sees the next iteration's
        """
        def f(x):
            values = {'0': x, '1': 1, '2': 2}
            y = values['0']
            values['0'] = x + 1
            for i in range(1, 3):
                y = y + values[f'{i}']
                values['2'] = y * 10
            return y
        """,
        [(1,), (4,)],
        ["values['0'] = x + 1"],
        ["values['2'] = y * 10"],
    ),
    (  # a loop's name assigned in its body is no longer one of the loop's values
        """
        def f(x):
            values = {}
            for i in range(2):
                i = i + 5
                values[f'{i}'] = x
            return values['6']
        """,
        [(1,)],
        [],
        ["values[f'{i}'] = x"],
    ),
]


@pytest.mark.parametrize("source,inputs,dropped,kept", CASES)
def test_tidying_keeps_what_a_forward_computes(source, inputs, dropped, kept):
    after = tidied(source)
    for args in inputs:
        assert run(after, *args) == run(source, *args), after
    for text in dropped:
        assert text not in after, after
    for text in kept:
        assert text in after, after


class _Sequential:
    """nn.Sequential's naming, without torch: a member added unnamed is named by its position,
    an index reaches the member at that position, an attribute the member of that name."""

    def __init__(self, *members):
        self.__dict__["members"] = {}
        for m in members:
            self.append(m)

    def add_module(self, key, member):
        self.members[key] = member

    def append(self, member):
        self.members[str(len(self.members))] = member

    def __getitem__(self, i):
        return list(self.members.values())[i]

    def __getattr__(self, key):
        return self.members[key]


def test_members_named_by_position_are_reached_by_index():
    from types import SimpleNamespace

    from archspec.backends.torch.tidy import indexed_sequentials

    source = textwrap.dedent(
        """
        def init(self):
            backbone = nn.Sequential()
            backbone.add_module('0', double)
            backbone.add_module('1', add_one)
            self.backbone = backbone
            model = nn.Sequential()
            model.add_module('0', add_one)
            model.add_module('2', double)
            self.model = model

        def forward(self, x):
            x = getattr(self.backbone, '1')(x)
            x = getattr(self.backbone, '0')(x)
            return getattr(self.model, '2')(x)
        """
    )
    init, forward = ast.parse(source).body
    indexed_sequentials(init.body, forward.body)
    after = ast.unparse(ast.fix_missing_locations(ast.Module([init, forward], [])))
    assert "self.backbone = nn.Sequential(double, add_one)" in after, after
    assert "self.backbone[1](x)" in after and "self.backbone[0](x)" in after, after
    assert "getattr(self.model, '2')" in after, after  # '2' is model's second member: no index
    for text in (source, after):
        scope = {"nn": SimpleNamespace(Sequential=_Sequential), "double": lambda v: 2 * v, "add_one": lambda v: v + 1}
        exec(compile(text, "<case>", "exec"), scope)  # noqa: S102 - the test's own source
        module = SimpleNamespace()
        scope["init"](module)
        assert scope["forward"](module, 5) == 2 * ((5 + 1) * 2), text


def test_members_a_loop_names_by_its_count_are_reached_by_that_count():
    from types import SimpleNamespace

    from archspec.backends.torch.tidy import indexed_sequentials

    source = textwrap.dedent(
        """
        def init(self, n):
            m = nn.Sequential()
            for i in range(n):
                m.add_module(f'{i}', step(i))
            self.m = m
            k = nn.Sequential()
            for i in range(1, n):
                k.add_module(f'{i}', step(10 * i))
            self.k = k

        def forward(self, x, n):
            for i in range(n):
                x = getattr(self.m, f'{i}')(x)
            for j, _ in enumerate(range(1, n)):
                x = getattr(self.k, f'{j + 1}')(x)
            return x
        """
    )
    init, forward = ast.parse(source).body
    indexed_sequentials(init.body, forward.body)
    after = ast.unparse(ast.fix_missing_locations(ast.Module([init, forward], [])))
    assert "m.append(step(i))" in after and "self.m[i](x)" in after, after
    assert "getattr(self.k, f'{j + 1}')" in after, after  # k counts from 1: its names are no positions
    results = []
    for text in (source, after):
        scope = {"nn": SimpleNamespace(Sequential=_Sequential), "step": lambda i: lambda v: 3 * v + i}
        exec(compile(text, "<case>", "exec"), scope)  # noqa: S102 - the test's own source
        module = SimpleNamespace()
        scope["init"](module, 4)
        results.append(scope["forward"](module, 1, 4))
    assert results[0] == results[1]


def test_a_constant_test_decides_in_the_file():
    from archspec.backends.torch.tidy import constant_tests_decided

    source = textwrap.dedent(
        """
        def f(x, flag):
            if True:
                x = x + 1
            else:
                x = x - 1
            for i in range(3):
                if False:
                    x = x * 100
                elif flag:
                    x = x * 2
            return x
        """
    )
    fn = ast.parse(source).body[0]
    fn.body = constant_tests_decided(fn.body)
    after = ast.unparse(ast.fix_missing_locations(ast.Module([fn], [])))
    assert "True" not in after and "False" not in after and "100" not in after, after
    for args in [(1, True), (2, False)]:
        assert run(after, *args) == run(source, *args), after


def test_a_copy_of_a_name_neither_side_changes_again_reads_the_original():
    """`high = inter` in __init__ (LR-ASPP's `high_channels = inter_channels`): the copy goes,
    its reads read the original; a copy one side of which changes later stays."""
    from archspec.backends.torch.tidy import without_name_copies

    source = textwrap.dedent(
        """
        def f(inter, other, n):
            high = inter
            out = []
            for i in range(n):
                out.append(high + i)
            count = inter
            for i in range(n):
                count = count + 1
            kept = other
            other = other * 2
            return (out, high, count, kept, other)
        """
    )
    fn = ast.parse(source).body[0]
    fn.body = without_name_copies(fn.body)
    after = ast.unparse(ast.fix_missing_locations(ast.Module([fn], [])))
    for args in [(1, 5, 3), (7, 2, 0)]:
        assert run(after, *args) == run(source, *args), after
    assert "high = inter" not in after and "out.append(inter + i)" in after
    assert "count = inter" in after and "kept = other" in after
