"""The pieces of `lstm report`: figures (matplotlib, Agg, no pyplot state), the asv history
reader and the HTML page. lstm.report.build_report runs the experiments and puts them together."""
