"""Access about to end (issue 14 points 3 and 4): the worker that warns before an activation or an eligibility ends
(desk), and what it keeps (records)."""

from bot.ending.desk import EndingDesk, EndingSettings
from bot.ending.records import KeepPlan, Plans

__all__ = ["EndingDesk", "EndingSettings", "KeepPlan", "Plans"]
