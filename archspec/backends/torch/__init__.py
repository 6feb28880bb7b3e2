"""The torch backend: the IR's definitions -> a Python file that needs only torch.

To add an op, its record goes in `lowering.py`, and what its shape rule does to the spatial
size in its `define(...)` (`spatial=`, `fixes_spatial=`); nothing else here names an op but
the joins of the IR (add, concat, mul) and `zero_residual`'s search for residual batch norms.
The rest, in the order the data flows: `codegen.py` writes the file (header, classes, factory), asking
`classes.py`'s `Writer` for one class per definition (its statements, calls, levels, named
values, joins and expressions each in a file of their own); the Writer tracks what flows with
`scope.py`, names things with `names.py`, turns a record and a call into a constructor with
`ops.py` and expressions into Python `ast` with `python.py`, and `tidy.py` passes over what
it built. `runtime.py` builds and verifies the module; `state_dict.py` gives its
state_dict's keys and shapes without torch.
"""
