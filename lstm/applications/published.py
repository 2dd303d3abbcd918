"""Published test accuracies on the datasets of lstm classify, with their sources.

Each entry: (method, accuracy, std over runs or None, source). Japanese Vowels: the dataset's
own 270 / 370 split; Fawaz et al. 2019 report mean (std) over 10 runs on Baydogan's archive copy
(results/results-mts-avg-std.csv of their dl-4-tsc repository).
"""

FAWAZ_2019 = ("Ismail Fawaz et al. 2019, Deep learning for time series classification: a "
              "review, Data Min. Knowl. Disc. 33(4)")

JAPANESE_VOWELS = [
    ("FCN", 0.993, 0.002, FAWAZ_2019),
    ("ResNet", 0.992, 0.003, FAWAZ_2019),
    ("MLP", 0.976, 0.002, FAWAZ_2019),
    ("Encoder", 0.976, 0.006, FAWAZ_2019),
    ("TWIESN (echo state network)", 0.965, 0.007, FAWAZ_2019),
    ("Time-CNN", 0.956, 0.010, FAWAZ_2019),
]
