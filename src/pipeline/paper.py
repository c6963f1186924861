"""The paper's published numbers, printed beside ours in every table."""

TABLE1_AUC = {
    # (length, stride): (spectrograms, raw audio) -- Table 1
    (1024, 1024): (0.8690, 0.8366),
    (1024, 512): (0.8726, 0.8365),
    (512, 512): (0.8793, 0.8386),
    (512, 256): (0.8793, 0.8408),
    (256, 256): (0.8815, 0.8487),
}
