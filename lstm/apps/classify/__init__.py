"""`lstm classify`: sequence classification of variable-length multivariate series (Japanese
Vowels) by a bidirectional LSTM with attention pooling, next to a DTW 1-NN baseline."""

from ..common.app import Application

APP = Application("classify", "lstm.apps.classify.cli:add_parser",
                  "lstm.apps.classify.report:classify_sections")
