"""`lstm translate`: sequence to sequence with attention on numbers written out in words.

The one object this application exports is `APP`: its command, its report section and its asv
cases (the quick preset's config per attention, seed 0).
"""

from ..common.app import Application

APP = Application("translate", "lstm.apps.translate.cli:add_parser",
                  "lstm.apps.translate.report:report_section",
                  "lstm.apps.translate.train:asv_cases")
