/**
 * Days in the tenant's time zone. The History API bounds the opening time with instants
 * (`from` inclusive, `to` exclusive); a person picks local days, so a day starts at local
 * midnight in the tenant's zone, whatever the browser's own zone is.
 */

/** The zone's offset from UTC, in minutes, at an instant. */
function offsetMinutes(instant: Date, timeZone: string): number {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  }).formatToParts(instant);
  const get = (type: string) => Number(parts.find((part) => part.type === type)?.value);
  const asUtc = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"), get("second"));
  return Math.round((asUtc - instant.getTime()) / 60_000);
}

/** The instant local midnight starts `day` (`YYYY-MM-DD`) in `timeZone`, as ISO 8601. */
export function startOfDay(day: string, timeZone: string): string {
  const [year, month, date] = day.split("-").map(Number);
  const guess = Date.UTC(year, month - 1, date);
  let instant = guess - offsetMinutes(new Date(guess), timeZone) * 60_000;
  // Once more: the offset at the true instant may differ (a DST change near midnight).
  instant = guess - offsetMinutes(new Date(instant), timeZone) * 60_000;
  return new Date(instant).toISOString();
}

/** The day after `day`, `YYYY-MM-DD`. */
export function nextDay(day: string): string {
  const [year, month, date] = day.split("-").map(Number);
  return new Date(Date.UTC(year, month - 1, date + 1)).toISOString().slice(0, 10);
}

/** Today in `timeZone`, `YYYY-MM-DD`. */
export function today(timeZone: string, now: Date = new Date()): string {
  return new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" }).format(now);
}

/** `days` before `day`, `YYYY-MM-DD`. */
export function daysBefore(day: string, days: number): string {
  const [year, month, date] = day.split("-").map(Number);
  return new Date(Date.UTC(year, month - 1, date - days)).toISOString().slice(0, 10);
}
