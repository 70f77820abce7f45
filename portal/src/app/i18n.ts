/**
 * i18next with the shell's texts (namespace `app`) and every feature's `i18n.ts` (namespace =
 * folder name). The language: the user's choice (kept in this browser), else the user's
 * language from the session, else the tenant's default, else Dutch.
 */
import i18n from "i18next";
import { initReactI18next } from "react-i18next";
import { LANGUAGES, type Language } from "./feature";
import { featureMessages } from "./registry";
import app from "./messages";

export const LANGUAGE_KEY = "interact.language";

function isLanguage(value: unknown): value is Language {
  return typeof value === "string" && (LANGUAGES as readonly string[]).includes(value);
}

export function chosenLanguage(): Language | undefined {
  try {
    const stored = localStorage.getItem(LANGUAGE_KEY);
    return isLanguage(stored) ? stored : undefined;
  } catch {
    return undefined;
  }
}

/** The language to show for a session: the browser's choice wins over the server's hints. */
export function languageFor(...hints: (string | null | undefined)[]): Language {
  return chosenLanguage() ?? hints.find(isLanguage) ?? "nl";
}

export function chooseLanguage(language: Language): void {
  try {
    localStorage.setItem(LANGUAGE_KEY, language);
  } catch {
    /* private mode: the choice lasts for this page only */
  }
  void i18n.changeLanguage(language);
}

const resources: Record<string, Record<string, Record<string, unknown>>> = {};
for (const language of LANGUAGES) {
  resources[language] = { app: app[language] };
  for (const [namespace, texts] of Object.entries(featureMessages)) {
    resources[language][namespace] = texts[language];
  }
}

void i18n.use(initReactI18next).init({
  resources,
  lng: languageFor(),
  fallbackLng: "en",
  defaultNS: "app",
  ns: ["app", ...Object.keys(featureMessages)],
  interpolation: { escapeValue: false },
  returnNull: false,
  showSupportNotice: false,
});

i18n.on("languageChanged", (language) => {
  document.documentElement.lang = language;
});
document.documentElement.lang = i18n.language;

export default i18n;
