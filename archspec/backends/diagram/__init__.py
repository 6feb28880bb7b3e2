"""The diagram backend: the flat graph -> Graphviz DOT, one cluster per block instance.

To add an op, its label and colour go in `labels.py`. `dot.py` lays out the scope tree,
folds runs of identical blocks (marked `×16`), writes the DOT and renders it with Graphviz.
"""
