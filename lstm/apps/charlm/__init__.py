"""`lstm charlm` and `lstm generate`: a character language model on Python's standard library
source, next to a Kneser-Ney n-gram and the compressors."""
