/** Dates and times in the tenant's time zone and the Portal's language. */
import { useCallback } from "react";
import { useTranslation } from "react-i18next";
import { useSession } from "../app/session";

/** The calendar day of `date` in `zone`, to tell "today" from other days. */
function dayIn(date: Date, zone: string | undefined): string {
  return new Intl.DateTimeFormat("en-CA", { dateStyle: "short", timeZone: zone }).format(date);
}

/**
 * Formats a timestamp; `compact` (for narrow lists such as the queue) shows only the time for
 * today and only the date for other days, so the list never cuts a date in half.
 */
export function useDateTime({ compact = false }: { compact?: boolean } = {}) {
  const { i18n } = useTranslation();
  const { data: session } = useSession();
  const zone = session?.time_zone;
  return useCallback(
    (value: string | null | undefined) => {
      if (!value) return "";
      const date = new Date(value);
      try {
        if (compact) {
          const today = dayIn(date, zone) === dayIn(new Date(), zone);
          return new Intl.DateTimeFormat(
            i18n.language,
            today ? { timeStyle: "short", timeZone: zone } : { dateStyle: "short", timeZone: zone },
          ).format(date);
        }
        return new Intl.DateTimeFormat(i18n.language, {
          dateStyle: "short",
          timeStyle: "short",
          timeZone: zone,
        }).format(date);
      } catch {
        return date.toLocaleString();
      }
    },
    [i18n.language, zone, compact],
  );
}
