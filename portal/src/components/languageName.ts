/** A language's name in the Portal's own language ("nl" reads "Nederlands", "néerlandais"). */
import { useCallback } from "react";
import { useTranslation } from "react-i18next";

export function useLanguageName() {
  const { i18n } = useTranslation();
  return useCallback(
    (code: string) => {
      try {
        const name = new Intl.DisplayNames([i18n.language], { type: "language" }).of(code);
        return name ? name.charAt(0).toLocaleUpperCase(i18n.language) + name.slice(1) : code;
      } catch {
        return code; // not a language code Intl knows: show it as it is
      }
    },
    [i18n.language],
  );
}
