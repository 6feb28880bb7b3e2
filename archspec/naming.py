"""What a name in a spec may be, checked once for both front ends.

A label becomes one component of a state_dict key (`layer1.0.conv1.weight`) and the name of a
submodule in every backend, so it must be a name PyTorch accepts as a submodule: no dots, and
none of the attribute names `nn.Module`, `nn.Sequential` and `nn.ModuleDict` already own
(`add_module("forward", ...)` raises). Names of parameters, blocks and networks are identifiers
of the language (ASCII, as the grammar's NAME): backends rename them where Python would not
accept them, so those need no further rule here.
"""

from __future__ import annotations

import re

LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")  # torchvision's and timm's keys: `block1-0`, `blocks-0`
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
KEYWORDS = frozenset(
    "param input init import block network repeat for in if elif else assert return idle members and or not concat add mul true false none True False None".split()
)

# The public attributes of nn.Module, nn.Sequential and nn.ModuleDict (torch 2.13), and
# `out_channels`, which a generated block sets; tests/test_torch_definitions.py checks the list.
MODULE_ATTRS = frozenset(
    """T_destination add_module append apply bfloat16 buffers call_super_init children clear compile cpu
    cuda double dump_patches eval extend extra_repr float forward get_buffer get_extra_state
    get_parameter get_submodule half insert ipu items keys load_state_dict modules mtia named_buffers
    named_children named_modules named_parameters parameters pop register_backward_hook
    register_buffer register_forward_hook register_forward_pre_hook register_full_backward_hook
    register_full_backward_pre_hook register_load_state_dict_post_hook register_load_state_dict_pre_hook
    register_module register_parameter register_state_dict_post_hook register_state_dict_pre_hook
    requires_grad_ set_extra_state set_submodule share_memory state_dict to to_empty train training
    type update values xpu zero_grad out_channels""".split()
)


def label_problem(label: str) -> tuple[str, str] | None:
    """Why `label` cannot name a layer or scope (message, help), or None if it can."""
    if not LABEL.fullmatch(label):
        if label.startswith("_"):
            return f"'{label}' is not a valid name: a name may not start with '_'", "`_` alone opens an unnamed scope"
        return f"'{label}' is not a valid name (ASCII letters, digits, '_' and '-')", "names become state_dict keys, one part each"
    if label in MODULE_ATTRS:
        return (
            f"'{label}' cannot name a layer: PyTorch's nn.Module has an attribute of that name",
            "pick another name; it would become a submodule's name and its state_dict key",
        )
    return None


def name_problem(name: str, what: str) -> str | None:
    """Why `name` cannot be the name of a parameter, block or network, or None if it can."""
    if not NAME.fullmatch(name):
        return f"{what} '{name}' is not a valid name (ASCII letters, digits and '_', not starting with a digit)"
    if name in KEYWORDS:
        return f"{what} '{name}' is a reserved word"
    return None
