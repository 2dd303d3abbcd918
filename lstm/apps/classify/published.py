"""Published test accuracies on the datasets of lstm classify, with their sources.

JAPANESE_VOWELS entries: (method, accuracy, std over runs or None, runs, source key). All on the
dataset's own 270 / 370 split. Fawaz et al. report mean (std) over 10 runs on Baydogan's copy of
the archive: the file results/results-mts-avg-std.csv of their dl-4-tsc repository, read for
this table. REFERENCES gives each source key's full citation.
"""

FAWAZ_2019 = "Ismail Fawaz et al. 2019"

REFERENCES = {
    FAWAZ_2019: "H. Ismail Fawaz, G. Forestier, J. Weber, L. Idoumghar, P.-A. Muller (2019). "
                "Deep learning for time series classification: a review. Data Mining and "
                "Knowledge Discovery 33(4), 917-963.",
}

JAPANESE_VOWELS = [
    ("FCN", 0.993, 0.002, 10, FAWAZ_2019),
    ("ResNet", 0.992, 0.003, 10, FAWAZ_2019),
    ("MLP", 0.976, 0.002, 10, FAWAZ_2019),
    ("Encoder", 0.976, 0.006, 10, FAWAZ_2019),
    ("TWIESN (echo state network)", 0.965, 0.007, 10, FAWAZ_2019),
    ("Time-CNN", 0.956, 0.010, 10, FAWAZ_2019),
]
