"""`lstm forecast`: direct multi-step forecasting of real series with recurrent networks, next to
the classical baselines (naive, seasonal naive with drift, ETS, SARIMA) on rolling origins."""

from ..common.app import Application

APP = Application("forecast", "lstm.apps.forecast.cli:add_parser",
                  "lstm.apps.forecast.report:forecast_sections")
