"""The paper's published numbers, printed beside ours in every table."""

TABLE1_AUC = {
    # (length, stride): (spectrograms, raw audio) -- Table 1
    (1024, 1024): (0.8690, 0.8366),
    (1024, 512): (0.8726, 0.8365),
    (512, 512): (0.8793, 0.8386),
    (512, 256): (0.8793, 0.8408),
    (256, 256): (0.8815, 0.8487),
}

TABLE2_AUC = {
    # nonlinearity of the strided layer, 1024/1024 -- Table 2
    "relu": 0.8366,
    "log_x2": 0.7508,
    "log_abs_x": 0.7487,  # the paper's log(1 + C x); see models.NONLINEARITIES
}

TABLE3_AUC = {
    # (feature pooling, pool size), 1024/1024 -- Table 3
    ("none", 1): 0.8366,
    ("l2", 2): 0.8387,
    ("l2", 4): 0.8387,
    ("max", 2): 0.8183,
    ("max", 4): 0.8280,
}
