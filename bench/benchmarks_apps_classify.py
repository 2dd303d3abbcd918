"""asv: Japanese Vowels speaker identification (lstm classify): test accuracy and epoch time.

`ClassifyAccuracy` trains the quick preset (lstm.apps.classify.train.PRESETS["quick"], seed 0)
once per pooling in setup_cache and tracks the test accuracy after the last epoch; `DtwBaseline`
tracks the 1-NN DTW accuracy on the same split (deterministic: it moves only if the loader, the
scaling or the DTW change) and `DtwMatrix` times it. `ClassifyEpoch` times one training epoch
(270 utterances, batches of 16) of the quick model, after a warm-up epoch that compiles the
kernels. Skipped where the data package (sktime, the apps extra) or lstm.apps is missing.
"""

from __future__ import annotations

from bench.app_cases import Epochs, Tracked, epoch_of, tracked, unavailable
from bench.asv_cases import skip

POOLINGS = ["attention", "last", "mean"]


def _unavailable() -> str | None:
    return unavailable(("sktime",), "lstm.apps.classify.train")


def train_poolings(*_) -> dict:
    """{pooling: test accuracy of the quick preset, seed 0}, or {"unavailable": reason}."""
    reason = _unavailable()
    if reason:
        return {"unavailable": reason}
    from lstm.apps.classify.train import dtw_baseline, preset_config, train_classifier

    out = {p: train_classifier(preset_config("quick", pooling=p, seed=0))["accuracy"]
           for p in POOLINGS}
    out["dtw"] = dtw_baseline()["dtw_accuracy"]
    return out


train_poolings.timeout = 600


class ClassifyAccuracy(Tracked, cache=train_poolings, over={"pooling": POOLINGS}):
    """Test accuracy (fraction of 370 utterances) of the BiLSTM per pooling over time."""

    track_test_accuracy = tracked("fraction", lambda r, p: r[p])


class DtwBaseline(Tracked, cache=train_poolings):
    """1-nearest-neighbour dependent DTW on the standardised split."""

    track_dtw_accuracy = tracked("fraction", lambda r: r["dtw"])


class DtwMatrix:
    """Wall time of the 1-NN DTW baseline: 370 x 270 dependent DTW distances and the argmin."""

    timeout = 300
    number = 1
    repeat = (3, 5, 30.0)

    def setup(self):
        reason = _unavailable()
        if reason:
            skip(reason)
        from lstm.apps.classify import train as classify
        from lstm.apps.classify.dtw import nearest_neighbour

        dataset = classify.load_dataset("japanese-vowels")
        self.train_x, self.test_x = classify.prepare(dataset)
        self.train_y, self.nearest = dataset.train_y, nearest_neighbour
        self.time_dtw_one_nn()  # warm-up: loads or compiles the kernel outside the timing

    def time_dtw_one_nn(self):
        self.nearest(self.train_x, self.train_y, self.test_x)


class ClassifyEpoch(Epochs, unavailable=_unavailable, over={"pooling": POOLINGS}):
    """Wall time of one training epoch of the quick preset's model."""

    def prepare(self, pooling):
        import numpy as np

        from lstm.apps.classify import train as classify
        from minigrad import optim

        config = classify.preset_config("quick", pooling=pooling)
        dataset = classify.load_dataset(config.dataset)
        train_x, _ = classify.prepare(dataset)
        rng = np.random.default_rng(0)
        model = classify.build_model(config, dataset, rng)
        return epoch_of(model, optim.Adam(model.parameters(), lr=config.lr),
                        classify.classifier_loss(model),
                        lambda: classify.batches(train_x, dataset.train_y, config.batch_size,
                                                 rng), config.clip)
