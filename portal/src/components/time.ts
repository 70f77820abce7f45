/** Dates and times in the tenant's time zone and the Portal's language. */
import { useCallback } from "react";
import { useTranslation } from "react-i18next";
import { useSession } from "../app/session";

export function useDateTime() {
  const { i18n } = useTranslation();
  const { data: session } = useSession();
  const zone = session?.time_zone;
  return useCallback(
    (value: string | null | undefined) => {
      if (!value) return "";
      try {
        return new Intl.DateTimeFormat(i18n.language, {
          dateStyle: "short",
          timeStyle: "short",
          timeZone: zone,
        }).format(new Date(value));
      } catch {
        return new Date(value).toLocaleString();
      }
    },
    [i18n.language, zone],
  );
}
