"""Python names for what a spec names: classes, attributes, locals.

Class names follow the papers' spelling (`ResNet50`, `MobileNetV2`); a spec's label becomes
an attribute or local where it is a Python identifier, and a neutral name where not.
"""

from __future__ import annotations

import ast
import re

from archspec.backends.torch.python import identifier
from archspec.ir import defs
from archspec.ir import expr as irx
from archspec.naming import MODULE_ATTRS


def class_name(name: str) -> str:
    """`dense_layer` -> `DenseLayer`, `resnet50` -> `ResNet50`, `mobilenet_v2` -> `MobileNetV2`."""
    out = []
    for part in re.split(r"[^A-Za-z0-9]+", name):
        if not part:
            continue
        m = re.match(r"([A-Za-z]+)(.*)", part)
        word, rest = (m.group(1), m.group(2)) if m else ("", part)
        piece = _ACRONYMS.get(word.lower(), word[:1].upper() + word[1:]) + rest
        if out and out[-1][-1:].isdigit() and piece[:1].isdigit():
            piece = "_" + piece
        out.append(piece)
    text = "".join(out) or "Net"
    return "N" + text if text[0].isdigit() else text


_ACRONYMS = {
    "vgg": "VGG",
    "resnet": "ResNet",
    "resnext": "ResNeXt",
    "densenet": "DenseNet",
    "mobilenet": "MobileNet",
    "shufflenet": "ShuffleNet",
    "squeezenet": "SqueezeNet",
    "googlenet": "GoogLeNet",
    "alexnet": "AlexNet",
    "lenet": "LeNet",
    "nin": "NiN",
    "se": "SE",
    "bn": "BN",
}


def snake_case(cls: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", cls).lower()


def attribute_name(base: str, taken: set[str]) -> str:
    """The attribute forward reads a value from: `self.stride`; `self.training_` where nn.Module owns the name."""
    while base in taken or base in MODULE_ATTRS:
        base += "_"
    return base


def literal_start(e: irx.Expr) -> str:
    """How a computed name starts, as written: "down" for "down{i}" ("" if it starts computed)."""
    if isinstance(e, irx.Format) and e.parts and isinstance(e.parts[0], str):
        return e.parts[0]
    return ""


def local_name(label) -> str:
    """The local a level's container is built in: the label where it is a name, `level22` for `"22"`."""
    if isinstance(label, str) and label.isidentifier():
        return identifier(label)
    if isinstance(label, str) and label.isascii() and label.isdigit():
        return f"level{label}"
    if isinstance(label, ast.JoinedStr) and label.values and isinstance(label.values[0], ast.Constant):
        stem = "".join(ch for ch in str(label.values[0].value) if ch.isalnum() or ch == "_")
        if stem and stem.isidentifier():
            return identifier(stem)
    return "level"


def branch_name(b) -> str:
    """The local a join's branch is computed in: its label, or for a `_:` group whose members are
    numbered steps of one name (`branch5x5_1`, `branch5x5_2`) that name, as torchvision's Inception
    writes `branch5x5 = self.branch5x5_1(x)`; else what it reads, or `out`."""
    if isinstance(b, defs.Labeled) and isinstance(b.label, str) and b.label != "_" and b.label.isidentifier():
        return identifier(b.label)
    if isinstance(b, defs.Labeled) and b.label == "_" and all(isinstance(m, (defs.Labeled, defs.Line, defs.Join)) for m in b.body):
        stems = {re.sub(r"_\d+$", "", m.label) for m in b.body if isinstance(m, defs.Labeled) and isinstance(m.label, str)}
        if len(stems) == 1 and (stem := stems.pop()).isidentifier() and stem != "_":
            return identifier(stem)
    if isinstance(b, defs.Line) and len(b.items) == 1 and isinstance(b.items[0], defs.Call) and b.items[0].callee == "identity":
        return "identity"
    if isinstance(b, defs.Line) and b.items and isinstance(b.items[0], defs.Ref):  # `@down4; crop(...)`: named after it
        ref = b.items[0].name
        base = ref if isinstance(ref, str) else literal_start(ref).rstrip("_")
        if base.isidentifier():
            return identifier(base) if len(b.items) == 1 else identifier(f"{base}_out")
    return "out"
