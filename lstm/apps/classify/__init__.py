"""`lstm classify`: sequence classification of variable-length multivariate series (Japanese
Vowels) by a bidirectional LSTM with attention pooling, next to a DTW 1-NN baseline."""
