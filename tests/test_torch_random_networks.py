"""Random networks with joins, blocks, labels and numbering compile to modules that verify.

A generator of valid specs (shapes kept consistent by construction) exercises the torch
backend's structure handling (nested joins, unnamed multi-item branches, numbered members
in classes, in and after loops, loops among a join's branches, optional members, block variants, blocks whose instances take different `if`
branches or repeat counts; long skips that read a value named anywhere earlier, and networks
that return two values, issue 17; sizes read from `in`, defaults over other parameters and
`in` in a splice; loops that name values by a computed name, read inside the loop, after it
and as long skips; spliced blocks that join; `members` and `idle`) beyond the shipped specs. tests/test_onnx_backend.py runs the same networks
against onnxruntime, which checks what the modules compute. `RANDOM_EXAMPLES=600` searches harder. Compiling them needs no torch and runs
without it; verifying the modules needs torch and skips without it.
"""

from __future__ import annotations

import os
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archspec
from tests.conftest import needs_torch

EXAMPLES = int(os.environ.get("RANDOM_EXAMPLES", 40))  # more to search harder: RANDOM_EXAMPLES=600

LEAVES = [
    "relu", "batchnorm", "sigmoid", "identity", "conv({c}, 3, padding=1)", "conv({c}, 1, bias=false)", "dwconv(3, padding=1)",
    # resampling (issue 17), each back to the channels and the 6x6 it started from
    "conv_transpose({c}, 3, padding=1)",
    "conv_transpose({c}, 2, stride=2); maxpool(2)",
    "upsample(scale=2); maxpool(2)",
    'upsample(size=(9, 9), mode="bilinear"); adaptive_avgpool(6)',
    'pad(1, mode="reflect"); crop(6)',
    "conv({c4}, 1); pixel_shuffle(2); avgpool(2)",
]  # fmt: skip


def leaf(draw, c: int) -> str:
    return draw(st.sampled_from(LEAVES)).format(c=c, c4=4 * c)


@st.composite
def sequence(draw, c: int, depth: int, labels: list) -> list[str]:
    """Items that keep `c` channels and the spatial size, one item a line. `labels`: the count
    that keeps labels apart, the values loops name (`"v3_0"`), and whether `*chain` came before
    (its names are the network's: once). Members after loops are labelled or not, by chance: an
    unlabelled one is named by a position computed when built."""
    items = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["leaf", "leaf", "join", "block", "label", "loop", "skips"] if depth < 2 else ["leaf"]))
        label = ""
        if draw(st.booleans()):
            labels[0] += 1
            label = f"n{labels[0]}: "
        if kind == "leaf":
            items.append(label + leaf(draw, c))
        elif kind == "block":
            items.append(
                label
                + draw(
                    st.sampled_from(
                        [
                            f"unit({c})",
                            f"*unit({c})" if not label else f"unit({c})",
                            f"res({c}, {draw(st.booleans())})".lower(),
                            f"branchy({c}, {draw(st.integers(0, 2))}, {draw(st.integers(0, 2))})",
                            f"gated({c}, {draw(st.booleans())})".lower(),
                            f"fork({c}, {draw(st.booleans())})".lower(),
                            f"probe({c})",
                            f"widen({c}, {draw(st.integers(1, 3))})",
                            f"*widen({c})" if not label else f"widen({c})",
                            f"chain({c}, {draw(st.integers(1, 3))})",
                            f"widths({c}, {tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=3)))})",
                            f"stack({c}, {draw(st.integers(1, 3))})",
                            f"*chain({c}, {draw(st.integers(1, 3))})" if not label and not labels[2] else f"chain({c}, 1)",
                            f"headed({c})",
                            f"looped({c}, {draw(st.integers(1, 3))})",
                            f"bordered({c}, {draw(st.integers(1, 2))})",
                            f"rep({c}, {draw(st.booleans())})".lower(),
                        ]
                    )
                )
            )
            if items[-1].startswith("*chain("):  # its names are the network's: once
                labels[2] = True
        elif kind == "label":
            labels[0] += 1
            inner = draw(sequence(c, depth + 1, labels))
            items.append(f"s{labels[0]}:")
            items += ["    " + line for line in inner]
        elif kind == "skips" and depth == 0:  # U-Net's shape: a level names values in a loop, a later loop reads them backwards
            labels[0] += 1
            n, k = labels[0], draw(st.integers(1, 3))
            items += [f"enc{n}:", f"    for i in range({k}):", f'        "d{n}_{{i}}": ' + leaf(draw, c)]
            items += [f"for i in range({k}):", "    concat:", "        identity", f'        @"d{n}_{{{k - 1} - i}}"', f'    "u{n}_{{i}}": conv({c}, 1)']
            labels[1] += [f"d{n}_{j}" for j in range(k)]
        elif kind == "loop":  # values named by a computed name (U-Net's "down{i}"), read in the loop and after it
            labels[0] += 1
            prefix, k = f"v{labels[0]}_", draw(st.integers(1, 3))
            items.append(f"for i in range({k}):")
            items.append(f'    "{prefix}{{i}}": ' + draw(st.sampled_from([f"unit({c})", leaf(draw, c)])))
            if draw(st.booleans()):
                items += ["    add:", "        identity", f'        @"{prefix}{{i}}"']
            labels[1] += [f"{prefix}{j}" for j in range(k)]
            if draw(st.booleans()):
                labels[0] += 1
                items += ["concat:", f'    @"{prefix}0"', f'    @"{prefix}{k - 1}"', f"n{labels[0]}: conv({c}, 1)"]
        else:
            join = draw(st.sampled_from(["add", "mul", "concat"]))
            items.append(f"{join}:")
            branches = draw(st.integers(1, 3))
            for k in range(branches):
                if k > 0 and draw(st.integers(0, 3)) == 0:  # ASPP's loop of branches, one a step (a sum, a product too)
                    items.append(f"    for j in range({draw(st.integers(0, 2))}):")
                    items += ["        " + leaf(draw, c) for _ in range(draw(st.integers(1, 2)))]
                    continue
                body = draw(sequence(c, depth + 1, labels))
                style = draw(st.sampled_from(["named", "transparent", "single"]))
                if style == "single" and len(body) == 1 and not body[0].endswith(":"):
                    items.append("    " + body[0])
                else:
                    labels[0] += 1
                    items.append(f"    {'_' if style == 'transparent' else f'b{labels[0]}'}:")
                    items += ["        " + line for line in body]
            if join == "concat":
                labels[0] += 1
                items.append((f"n{labels[0]}: " if draw(st.booleans()) else "") + f"conv({c}, 1)")  # back to c channels
    return items


@st.composite
def networks(draw) -> str:
    c = draw(st.sampled_from([4, 6]))
    labels: list = [0, [], False]
    body = draw(sequence(c, 0, labels))
    lines = [
        f"input {c}x6x6",
        "block unit(c):",
        "    conv(c, 3, padding=1)",
        "    relu",
        "block res(c, project):",
        "    add:",
        "        _:",
        "            conv1: conv(c, 3, padding=1, bias=false)",
        "            bn1: batchnorm",
        "        downsample if project:",
        "            conv(c, 1); batchnorm",
        "    relu",
        "block branchy(c, k, n):",  # instances differ: torch_branches mirrors the if and the repeat
        "    if k == 0:",
        "        relu",
        "    elif k == 1:",
        "        conv(c, 1)",
        "        batchnorm",
        "    else:",
        "        dwconv(3, padding=1)",
        "    repeat n:",
        "        conv(c, 3, padding=1)",
        "        relu",
        "block gated(c, use):",  # a forward that depends on the branch
        "    if use:",
        "        add:",
        "            body: unit(c)",
        "    else:",
        "        body: unit(c)",
        "    relu",
        "block fork(c, wide):",  # members that one branch builds and the other does not
        "    if wide:",
        "        concat:",
        "            left: conv(c, 1)",
        "            right: conv(c, 1)",
        "        conv(c, 1)",
        "    else:",
        "        right: conv(c, 1)",
        "block probe(c):",  # sizes read from `in`: its channels, and the height every instance shares
        "    conv(in.height + in.channels, 1)",
        "    conv(c, 1)",
        "block widen(c, k=2, wide=k * c):",  # a default over the parameters before it; spliced, `in` is what flows in
        "    conv(wide, 1)",
        "    relu",
        "    conv(in.channels, 1)",
        "block chain(c, n):",  # values a loop names, joined with what flows after it; members a loop makes
        "    for i in range(n):",
        '        "c{i}": conv(c, 3, padding=1)',
        "    concat:",
        '        @"c0"',
        "        identity",
        "    out: conv(c, 1)",
        "block widths(c, ws):",  # a loop over a tuple parameter whose items size the layers
        "    for i, w in enumerate(ws):",
        '        "w{i}": conv(w, 1)',
        "        relu",
        "    back: conv(c, 1)",
        "block stack(c, n):",  # C2f's shape: members named by their count in a level, all joined
        "    first: conv(c, 1)",
        "    m:",
        "        for i in range(n):",
        '            "{i}": conv(c, 3, padding=1)',
        "    concat:",
        "        @first",
        "        for i in range(n):",
        '            @"{i}"',
        "    merge: conv(c, 1)",
        "block headed(c):",  # registered in another order than it runs, with a member it never runs
        "    members out, spare, body",
        "    body: conv(c, 3, padding=1)",
        "    idle spare: conv(c, 1)",
        "    out: conv(c, 1)",
        "block looped(c, n):",  # numbered members in and after loops of a class with a forward, the count a parameter
        "    repeat n:",
        "        conv(c, 3, padding=1)",
        "        for j in range(2):",
        "            conv(c, 1)",
        "            relu",
        "    add:",
        "        identity",
        "        _:",
        "            for j in range(n):",
        "                conv(c, 1)",
        "    conv(c, 1)",
        "block bordered(c, p):",  # a pad's sides its argument sets, and the kernel that takes them back off
        '    pad(p, mode="replicate")',
        "    conv(c, 2 * p + 1)",
        "block rep(c, extra):",  # RepVGG's: an optional branch beside two fixed ones
        "    add:",
        "        dense: conv(c, 3, padding=1)",
        "        point: conv(c, 1)",
        "        norm if extra: batchnorm",
        "network random:",
    ]
    body += draw(long_skips(body, c, labels[1]))
    lines += ["    " + line for line in body]
    return "\n".join(lines) + "\n"


@st.composite
def long_skips(draw, body: list[str], c: int, looped: list[str]) -> list[str]:
    """Issue 17: joins that read a value named anywhere earlier in the network (`@n3`, a label of
    any depth, or `@v2_1`, named in a loop: every value has c channels and 6x6), and sometimes
    two outputs."""
    plain = re.findall(r"^\s*((?:n|s)\d+):", "\n".join(body), re.M)
    names = plain + looped
    out: list[str] = []
    if names and draw(st.booleans()):
        join = draw(st.sampled_from(["add", "concat", "mul"]))
        out += [f"{join}:", "    identity", f"    @{draw(st.sampled_from(names))}"]
        if join == "concat":
            out.append(f"merge: conv({c}, 1)")
    if plain and draw(st.booleans()):
        out += ["tail: relu", f"return tail, {draw(st.sampled_from(plain))}"]
    return out


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(networks())
def test_random_networks_compile_to_the_same_valid_python_every_time(tmp_path, text):
    path = tmp_path / "random.arch"
    path.write_text(text)
    src = archspec.compile_torch(path)
    assert archspec.compile_torch(path) == src
    compile(src, "random.py", "exec")


@needs_torch
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(networks())
def test_random_networks_verify(tmp_path, text):
    from archspec.backends.torch.runtime import verify

    path = tmp_path / "random.arch"
    path.write_text(text)
    a = archspec.load(path)
    result = verify(a.graph, a.spec, batch=2)
    assert result.ok, (text, [(c.what, c.expected, c.measured) for c in result.checks if not c.ok], result.layer_mismatches[:3])

