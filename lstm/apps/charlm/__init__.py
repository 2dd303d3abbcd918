"""`lstm charlm` and `lstm generate`: a character language model on Python's standard library
source, next to a Kneser-Ney n-gram and the compressors."""

from ..common.app import Application

APP = Application("charlm", "lstm.apps.charlm.cli:add_parser",
                  "lstm.apps.charlm.report:charlm_section")
