"""Incident priorities and the service-level targets per priority (Dutch §6.4, §6.6).

Targets are service time (see ``clock``). The Dutch table states P3 restore as "3 dagen"
and P4 restore as "6 maanden" inside the same service-hours measure, so a day is a
service day of 10 hours, and a month is a twelfth of a service year: 52 weeks x 5 days
/ 12 = 21 2/3 service days. Six months are then 130 service days = 1300 service hours
(half of the 260 service days in a year), which is also what ``services/sla/__main__``
publishes.

P1 and P2 targets are SLAs (result commitments, service credits on breach); P3 and P4
are SLOs (best effort, reported only, never credited, §6.2).
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum


class Priority(StrEnum):
    P1 = "P1"  # service fully down
    P2 = "P2"  # seriously degraded or running on backup
    P3 = "P3"  # limited impact
    P4 = "P4"  # no impact / information request


class Kind(StrEnum):
    RESPONSE = "response"  # ticket creation -> start of troubleshooting
    RESTORE = "restore"  # ticket creation -> resolution


class Level(StrEnum):
    SLA = "SLA"
    SLO = "SLO"


SERVICE_DAY = timedelta(hours=10)
SERVICE_MONTH = SERVICE_DAY * 52 * 5 / 12  # 216 h 40 min

TARGETS: dict[Priority, dict[Kind, timedelta]] = {
    Priority.P1: {Kind.RESPONSE: timedelta(hours=1), Kind.RESTORE: timedelta(hours=6)},
    Priority.P2: {Kind.RESPONSE: timedelta(hours=2), Kind.RESTORE: timedelta(hours=10)},
    Priority.P3: {Kind.RESPONSE: timedelta(hours=5), Kind.RESTORE: 3 * SERVICE_DAY},
    Priority.P4: {Kind.RESPONSE: timedelta(hours=10), Kind.RESTORE: 6 * SERVICE_MONTH},
}


def level_of(priority: Priority) -> Level:
    """P1/P2 targets are agreements (credited); P3/P4 only objectives."""
    return Level.SLA if priority in (Priority.P1, Priority.P2) else Level.SLO
