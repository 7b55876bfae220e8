"""Measuring retrieval, below both training and evaluation: metrics, paired-bootstrap intervals, BEIR datasets,
result records, plots and the lexical benchmarks. Training selects checkpoints with these; `evaluate/` reports
with them."""
