"""Trained models out: ONNX graphs (standard LSTM/GRU/RNN operators) of the applications'
models, and the `lstm export` command."""

from ..common.app import Application

APP = Application("export", "lstm.apps.export.cli:add_parser")
