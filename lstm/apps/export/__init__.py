"""Trained models out: ONNX graphs (standard LSTM/GRU/RNN operators) of the applications'
models, and the `lstm export` command."""
