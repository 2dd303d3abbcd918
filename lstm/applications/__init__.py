"""Applications on real data: forecasting, sequence classification, language modelling."""
