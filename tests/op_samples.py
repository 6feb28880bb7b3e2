"""Small networks that use each op of the registry, shared by the tests that walk `OPS`
(tests/test_torch_lowering.py, tests/test_op_spatial.py). Written by hand from the ops' documented
signatures (docs/language.md), not from archspec's output.
"""

from __future__ import annotations

# op -> small networks that use it: (input, body lines). The tested nodes are every node of that op.
SAMPLES: dict[str, list[tuple[str, str]]] = {
    "relu": [("4x5x5", "relu")],
    "relu6": [("4x5x5", "relu6")],
    "sigmoid": [("4x5x5", "sigmoid")],
    "tanh": [("4x5x5", "tanh")],
    "hardswish": [("4x5x5", "hardswish")],
    "hardsigmoid": [("4x5x5", "hardsigmoid")],
    "silu": [("4x5x5", "silu")],
    "gelu": [("4x5x5", "gelu")],
    "leaky_relu": [("4x5x5", "leaky_relu(0.2)")],
    "softmax": [("4x5x5", "softmax"), ("4x5x5", "flatten; softmax(dim=-1)")],
    "conv": [
        ("4x9x9", "conv(6, 3)"),
        ("4x9x9", "conv(6, (3, 2), stride=(2, 1), padding=(0, 1, 2, 0))"),  # asymmetric: PaddedConv2d
        ("6x9x9", 'conv(6, 3, padding="same", dilation=2, groups=3, bias=false)'),
    ],
    "dwconv": [("3x9x9", "dwconv(3, stride=2, padding=1, multiplier=2, bias=false)")],
    "linear": [("4x3x3", "flatten; linear(5)"), ("4x3x3", "flatten; linear(5, bias=false)"),
               ("4x5x6", "permute((1, 2, 0)); linear(7, per_position=true, bias=false); permute((2, 0, 1))")],
    "permute": [("4x5x6", "permute((1, 2, 0)); linear(3, per_position=true); permute((2, 0, 1))"), ("4x5x6", "permute((0, 2, 1))")],
    "layernorm": [("4x5x6", "layernorm(channels_first=true)"), ("4x5x6", "permute((1, 2, 0)); layernorm(eps=0.000001); permute((2, 0, 1))"),
                  ("12", "layernorm")],
    "layer_scale": [("4x5x5", "add:\n        _:\n            conv(4, 1)\n            ls: layer_scale(0.5)\n        identity")],
    "batchnorm": [("4x5x5", "batchnorm(eps=0.001, momentum=0.01)"), ("4x3x3", "flatten; batchnorm(affine=false)")],
    "lrn": [("6x5x5", "lrn(5)")],
    "maxpool": [("4x9x9", "maxpool(2)"), ("4x10x10", "maxpool(3, stride=2, padding=1, dilation=1, ceil_mode=true)"),
                # the last window of a row starts in the padding, that of a column runs past it
                ("4x5x6", "maxpool(2, stride=2, padding=1, ceil_mode=true)"), ("4x5x6", "maxpool((2, 3), stride=2, padding=1, ceil_mode=true)")],
    "avgpool": [("4x9x9", "avgpool(2)"), ("4x10x10", "avgpool(3, stride=2, padding=1, ceil_mode=true, count_include_pad=false)"),
                ("4x5x6", "avgpool(2, stride=2, padding=1, ceil_mode=true)"), ("4x5x6", "avgpool((2, 3), stride=2, padding=1, ceil_mode=true, count_include_pad=false)")],
    "adaptive_avgpool": [("4x9x9", "adaptive_avgpool((2, 3))")],
    "conv_transpose": [
        ("8x5x5", "conv_transpose(4, 2, stride=2)"),
        ("6x7x7", "conv_transpose(4, 3, stride=2, padding=1, output_padding=1, groups=2, bias=false)"),
        ("4x5x6", "conv_transpose(4, (3, 2), stride=(2, 1), dilation=2)"),
    ],
    "upsample": [
        ("3x5x7", "upsample(scale=2)"),
        ("3x5x7", "upsample(size=(12, 8))"),  # nearest, not a whole factor
        ("3x5x7", 'upsample(size=(9, 11), mode="bilinear")'),
        ("3x5x7", 'upsample(scale=(1.5, 2), mode="bilinear", align_corners=true)'),
        ("3x5x7", 'maxpool(2); upsample(like="input")'),  # the size of another value
    ],
    "pixel_shuffle": [("8x3x4", "pixel_shuffle(2)"), ("36x3x4", "pixel_shuffle(3)")],
    "pad": [("3x5x6", "pad(1)"), ("3x5x6", "pad((1, 2, 0, 3), value=0.5)"), ("3x5x6", 'pad((2, 1), mode="reflect")'), ("3x5x6", 'pad(2, mode="replicate")')],
    "crop": [("3x9x8", "crop(5)"), ("3x9x8", "crop((4, 7))"), ("3x9x8", 'small: maxpool(2)\n    @input; crop(like="small")')],
    "adaptive_maxpool": [("4x9x9", "adaptive_maxpool(2)")],
    "global_avgpool": [("4x9x9", "global_avgpool")],
    "global_maxpool": [("4x9x9", "global_maxpool")],
    "identity": [("4x5x5", "identity")],
    "dropout": [("4x5x5", "dropout"), ("4x5x5", "dropout(0.2)")],
    "scale": [("4x5x5", "scale(0.17)"), ("4x5x5", "add:\n        _: conv(4, 1); scale(0.5)\n        identity")],
    "stochastic_depth": [("4x5x5", "add:\n        _: conv(4, 1); stochastic_depth(0.25)\n        identity"), ("4x5x5", 'stochastic_depth(0.1, mode="batch")')],
    "flatten": [("4x5x5", "flatten")],
    "chunk": [("4x5x5", "chunk(2, 1)"), ("3x5x5", "chunk(2, 0); conv(2, 1)"), ("5x5x5", "chunk(3, 2); conv(2, 1)")],  # torch.chunk: 3 into 2 + 1, 5 into 2 + 2 + 1
    "channel_shuffle": [("6x5x5", "channel_shuffle(3)")],
    "concat": [("4x5x5", "concat:\n        conv(2, 1)\n        conv(3, 1)")],
    "add": [("4x5x5", "add:\n        conv(4, 1)\n        identity")],
    "mul": [("4x5x5", "mul:\n        identity\n        sigmoid")],
}
