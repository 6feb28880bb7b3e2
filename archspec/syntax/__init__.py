"""Syntax: text (.arch or YAML) to the AST. Both front ends produce `ast.Module`."""
